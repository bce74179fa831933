/*
 * Copyright 2026 The bce-grad authors. Licensed under the Apache License, Version 2.0.
 *
 * bce_grad_render.h: fills the {field} placeholders of the shared error templates that the
 * generated bce_grad_op_facts.h holds (C++ only; that header includes this one).
 */
#ifndef BCE_GRAD_RENDER_H_
#define BCE_GRAD_RENDER_H_

#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

namespace bce_grad_facts {

/*! A template with every {field} replaced by its value (fields not listed stay as they are). */
inline std::string Render(const char* tmpl,
                          std::initializer_list<std::pair<const char*, std::string>> fields) {
  std::string out;
  for (const char* p = tmpl; *p;) {
    bool replaced = false;
    if (*p == '{') {
      for (const auto& field : fields) {
        const size_t n = std::strlen(field.first);
        if (std::strncmp(p + 1, field.first, n) == 0 && p[n + 1] == '}') {
          out += field.second;
          p += n + 2;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += *p++;
  }
  return out;
}

}  // namespace bce_grad_facts

#endif  /* BCE_GRAD_RENDER_H_ */

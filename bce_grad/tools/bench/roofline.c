/* Roofline kernel of `bce-grad bench`: the bytes of BinaryCrossEntropyGrad, and nothing else.
 *
 * out = x + y + grad_output [+ weight], elementwise, with the op's broadcast.
 *
 * Each input is read once at its own (pre-broadcast) size through the same broadcast
 * pattern as the op (a broadcast dim has element stride 0), and one output of x's
 * shape and dtype is written once, so the kernel moves exactly the bytes the op must
 * move and does the least arithmetic that still touches every byte: one add per input.
 *
 * dtype 0 (float32): float adds, in the order ((x + y) + g) + w.
 * dtype 1 (float16, bfloat16): uint16 adds on the raw bits, wrapping; the values are
 *   meaningless as floats, the traffic is the same (2 bytes per element per tensor).
 *
 * The output is cut into tiles of about TILE elements (whole rows when rows are short,
 * row pieces when rows are long); OpenMP threads take tiles statically. Rows are walked
 * with an odometer over the collapsed outer dims. Rows shorter than SHORT_ROW of a 2-D
 * pattern take SHORT_ROWS instead (broadcast inputs expanded per tile in cache).
 * Built by tools/bench/roofline.py with gcc -O3 -march=native -fopenmp.
 */
#include <stdint.h>

#define MAX_RANK 8
#define MAX_IN 4
#define TILE 16384
#define SHORT_ROW 256
#define SHORT_TILE 4096
#define SPREAD 16

/* One row piece of n elements. by, bg, bw: that input is broadcast along the row (one
 * value); hw: weight is present. Called with constants, so each case is its own loop. */
#define DEFINE_ROW(NAME, T)                                                              \
  static inline __attribute__((always_inline)) void NAME(                                \
      T *restrict o, const T *restrict x, const T *restrict y, const T *restrict g,      \
      const T *restrict w, int64_t n, const int by, const int bg, const int hw,          \
      const int bw) {                                                                    \
    const T y0 = y[0], g0 = g[0];                                                        \
    const T w0 = hw ? w[0] : (T)0;                                                       \
    for (int64_t j = 0; j < n; ++j) {                                                    \
      T v = (T)(x[j] + (by ? y0 : y[j]));                                                \
      v = (T)(v + (bg ? g0 : g[j]));                                                     \
      if (hw) v = (T)(v + (bw ? w0 : w[j]));                                             \
      o[j] = v;                                                                          \
    }                                                                                    \
  }

DEFINE_ROW(row_f32, float)
DEFINE_ROW(row_u16, uint16_t)

#define CASE(ROW, M)                                                                     \
  case M:                                                                                \
    ROW(o, x, y, g, w, n, (M) & 1, ((M) >> 1) & 1, ((M) >> 2) & 1, ((M) >> 3) & 1);      \
    break;

/* mask bits: 1 y broadcast, 2 grad_output broadcast, 4 weight present, 8 weight broadcast */
#define DEFINE_DISPATCH(NAME, ROW, T)                                                    \
  static void NAME(int mask, T *o, const T *x, const T *y, const T *g, const T *w,       \
                   int64_t n) {                                                          \
    switch (mask) {                                                                      \
      CASE(ROW, 0) CASE(ROW, 1) CASE(ROW, 2) CASE(ROW, 3)                                \
      CASE(ROW, 4) CASE(ROW, 5) CASE(ROW, 6) CASE(ROW, 7)                                \
      CASE(ROW, 12) CASE(ROW, 13) CASE(ROW, 14) CASE(ROW, 15)                            \
      default: break;                                                                    \
    }                                                                                    \
  }

DEFINE_DISPATCH(rows_f32, row_f32, float)
DEFINE_DISPATCH(rows_u16, row_u16, uint16_t)

/* Short rows of a 2-D pattern (x (N, 3) with grad_output (N, 1)): a tile of whole rows is
 * one flat run of x; each broadcast input is first expanded into a tile-sized buffer that
 * stays in L1/L2 (it is read from memory once, at its own size), then the flat loop adds.
 * A value per row, in rows of at most SPREAD, is expanded with one store SPREAD / 2 or SPREAD
 * wide per row (each runs into the next row's, which overwrites it); an input that is the same
 * in every tile (a column broadcast) is expanded once per thread; a scalar is read as one
 * value: as the host kernel does. */
#define SHORT_ROWS(DISPATCH, T)                                                          \
  const int64_t rpt = SHORT_TILE / len;                                                  \
  _Pragma("omp parallel num_threads(threads)") {                                         \
    T buf[MAX_IN - 1][SHORT_TILE + SPREAD];                                              \
    int filled[MAX_IN] = {0, 0, 0, 0};                                                   \
    _Pragma("omp for schedule(static)")                                                  \
    for (int64_t t = 0; t < (rows + rpt - 1) / rpt; ++t) {                               \
      const int64_t r0 = t * rpt;                                                        \
      const int64_t r1 = r0 + rpt < rows ? r0 + rpt : rows;                              \
      const T *p[MAX_IN] = {0, 0, 0, 0};                                                 \
      int short_mask = n_in == 4 ? 4 : 0;                                                \
      p[0] = in[0] + r0 * len;                                                           \
      for (int k = 1; k < n_in; ++k) {                                                   \
        const int64_t sr = strides[2 * k], sc = strides[2 * k + 1];                      \
        T *b = buf[k - 1];                                                               \
        p[k] = b;                                                                        \
        if (sr != 0 && sc != 0) {                                                        \
          p[k] = in[k] + r0 * sr;                                                        \
        } else if (sr == 0 && sc == 0) { /* a scalar: one value, as the row loop reads */ \
          p[k] = in[k];                                                                  \
          short_mask |= k == 3 ? 8 : k;                                                  \
        } else if (sr == 0) { /* the same in every tile: filled once per thread */       \
          if (!filled[k]) {                                                              \
            const int64_t n = rpt < rows ? rpt : rows;                                   \
            for (int64_t r = 0; r < n; ++r)                                              \
              for (int64_t j = 0; j < len; ++j) b[r * len + j] = in[k][j * sc];          \
            filled[k] = 1;                                                               \
          }                                                                              \
        } else if (len <= SPREAD / 2) { /* a value per row: one vector store per row */  \
          for (int64_t r = r0; r < r1; ++r) {                                            \
            const T v = in[k][r * sr];                                                   \
            for (int j = 0; j < SPREAD / 2; ++j) b[(r - r0) * len + j] = v;              \
          }                                                                              \
        } else if (len <= SPREAD) {                                                      \
          for (int64_t r = r0; r < r1; ++r) {                                            \
            const T v = in[k][r * sr];                                                   \
            for (int j = 0; j < SPREAD; ++j) b[(r - r0) * len + j] = v;                  \
          }                                                                              \
        } else {                                                                         \
          for (int64_t r = r0; r < r1; ++r)                                              \
            for (int64_t j = 0; j < len; ++j) b[(r - r0) * len + j] = in[k][r * sr];     \
        }                                                                                \
      }                                                                                  \
      DISPATCH(short_mask, out + r0 * len, p[0], p[1], p[2], p[3], (r1 - r0) * len);     \
    }                                                                                    \
  }

#define DEFINE_DRIVER(NAME, DISPATCH, T)                                                 \
  static void NAME(int rank, const int64_t *shape, int n_in, const void *const *ins,     \
                   const int64_t *strides, void *out_v, int threads) {                   \
    const T *in[MAX_IN] = {0, 0, 0, 0};                                                  \
    int mask = 0;                                                                        \
    int64_t inner[MAX_IN] = {0, 0, 0, 0};                                                \
    for (int k = 0; k < n_in; ++k) {                                                     \
      in[k] = (const T *)ins[k];                                                         \
      inner[k] = strides[k * rank + rank - 1];                                           \
    }                                                                                    \
    mask |= inner[1] == 0 ? 1 : 0;                                                       \
    mask |= inner[2] == 0 ? 2 : 0;                                                       \
    if (n_in == 4) mask |= 4 | (inner[3] == 0 ? 8 : 0);                                  \
    const int64_t len = shape[rank - 1];                                                 \
    int64_t rows = 1;                                                                    \
    for (int d = 0; d < rank - 1; ++d) rows *= shape[d];                                 \
    const int64_t col_tiles = len >= TILE ? (len + TILE - 1) / TILE : 1;                 \
    const int64_t tile_len = len >= TILE ? TILE : len;                                   \
    const int64_t rows_per_tile = len >= TILE ? 1 : (TILE / len > 0 ? TILE / len : 1);   \
    const int64_t row_tiles = (rows + rows_per_tile - 1) / rows_per_tile;                \
    T *out = (T *)out_v;                                                                 \
    if (rank == 2 && len < SHORT_ROW) {                                                  \
      SHORT_ROWS(DISPATCH, T)                                                            \
      return;                                                                            \
    }                                                                                    \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
    for (int64_t t = 0; t < row_tiles * col_tiles; ++t) {                                \
      const int64_t r0 = (t / col_tiles) * rows_per_tile;                                \
      const int64_t r1 = r0 + rows_per_tile < rows ? r0 + rows_per_tile : rows;          \
      const int64_t c0 = (t % col_tiles) * tile_len;                                     \
      const int64_t n = c0 + tile_len < len ? tile_len : len - c0;                       \
      int64_t idx[MAX_RANK] = {0};                                                       \
      int64_t off[MAX_IN] = {0, 0, 0, 0};                                                \
      int64_t rem = r0;                                                                  \
      for (int d = rank - 2; d >= 0; --d) {                                              \
        idx[d] = rem % shape[d];                                                         \
        rem /= shape[d];                                                                 \
        for (int k = 0; k < n_in; ++k) off[k] += idx[d] * strides[k * rank + d];         \
      }                                                                                  \
      for (int64_t r = r0; r < r1; ++r) {                                                \
        const T *p[MAX_IN] = {0, 0, 0, 0};                                               \
        for (int k = 0; k < n_in; ++k) p[k] = in[k] + off[k] + c0 * inner[k];            \
        DISPATCH(mask, out + r * len + c0, p[0], p[1], p[2], p[3], n);                   \
        for (int d = rank - 2; d >= 0; --d) {                                            \
          ++idx[d];                                                                      \
          for (int k = 0; k < n_in; ++k) off[k] += strides[k * rank + d];                \
          if (idx[d] < shape[d]) break;                                                  \
          for (int k = 0; k < n_in; ++k) off[k] -= strides[k * rank + d] * shape[d];     \
          idx[d] = 0;                                                                    \
        }                                                                                \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_DRIVER(drive_f32, rows_f32, float)
DEFINE_DRIVER(drive_u16, rows_u16, uint16_t)

/* Entry point. dtype 0: float32, 1: 16-bit (float16, bfloat16). rank 1..MAX_RANK (the
 * collapsed shape of x); ins: x, y, grad_output[, weight] (n_in 3 or 4), each C-contiguous;
 * strides: n_in x rank element strides, 0 on the dims an input is broadcast along.
 * Returns 0, or -1 for arguments out of range. */
int bce_grad_roofline(int dtype, int rank, const int64_t *shape, int n_in, const void *const *ins,
                      const int64_t *strides, void *out, int threads) {
  if (rank < 1 || rank > MAX_RANK || n_in < 3 || n_in > MAX_IN || threads < 1) return -1;
  for (int d = 0; d < rank; ++d)
    if (shape[d] < 1) return -1;
  if (dtype == 0)
    drive_f32(rank, shape, n_in, ins, strides, out, threads);
  else if (dtype == 1)
    drive_u16(rank, shape, n_in, ins, strides, out, threads);
  else
    return -1;
  return 0;
}

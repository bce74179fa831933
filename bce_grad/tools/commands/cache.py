"""``bce-grad cache``: show or empty the cache root (``$BCE_GRAD_CACHE``) and all it holds."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cache`` subcommand with its ``info`` and ``clear`` actions."""
    parser = subparsers.add_parser(
        "cache", help="show or empty the cache (kernels, packages, runtime, adapters)",
        description=(
            "Everything bce_grad writes at run time lives under one cache root, $BCE_GRAD_CACHE "
            "(default $XDG_CACHE_HOME/bce-grad, else ~/.cache/bce-grad), in named subfolders: "
            "kernels/ (one compiled kernel per SoC, target, dtypes, broadcast pattern, "
            "reduction and source; capped at $BCE_GRAD_CACHE_MAX_MB MiB, least recently used "
            "first), packages/ (default kernel packages), runtime/ (the native runtime library) "
            "and torch/, tensorflow/, mindspore/ (the framework adapters). Folders are created "
            "private (0700) and refused when other users can write them; libraries are checked "
            "against the SHA-256 recorded when they were built, and a damaged one is rebuilt."),
        epilog="Example: bce-grad cache info; bce-grad cache clear")
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION")
    actions.required = True
    info = actions.add_parser("info", help="print the root, and each subfolder's count and size")
    info.set_defaults(func=run_info)
    clear = actions.add_parser(
        "clear", help="remove everything in the cache's subfolders that no process is building "
                      "now (exit status 1 when something was left for that reason)")
    clear.set_defaults(func=run_clear)


def run_info(args: argparse.Namespace) -> int:
    """Print where the cache is and what each subfolder holds."""
    del args
    from bce_grad import cache_root
    from bce_grad import kernel_cache

    root = cache_root.root()
    info = kernel_cache.cache_info()
    cap = kernel_cache.max_bytes()
    print(f"directory: {root}{'' if root.is_dir() else ' (not created yet)'}")
    for name, item in info.items():
        what = "kernels" if name == "kernels" else "entries"
        extra = f" of {cap / (1 << 20):.0f} MiB (${kernel_cache.MAX_MB_ENV})" if name == "kernels" else ""
        print(f"{name}: {item['count']} {what}, {item['bytes'] / (1 << 20):.2f} MiB{extra} "
              f"in {item['path']}")
    total = sum(item["bytes"] for item in info.values())
    print(f"total: {total / (1 << 20):.2f} MiB")
    print(f"orphaned temporary files: {sum(item['orphans'] for item in info.values())}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    """Remove everything in the cache's subfolders but what a process is building now."""
    del args
    from bce_grad import cache_root
    from bce_grad import kernel_cache

    root = cache_root.root()
    done = kernel_cache.clear_all()
    removed = {name: count for name, (count, _) in done.items()}
    print(f"removed {removed['kernels']} kernel(s) and "
          f"{sum(removed.values()) - removed['kernels']} other entries from {root}")
    busy = [(name, entry, pid) for name, (_, left) in done.items() for entry, pid in left]
    for name, entry, pid in busy:
        print(f"left {name}/{entry}: process {pid} holds its build lock; run `bce-grad cache "
              f"clear` again once it is done")
    return 1 if busy else 0

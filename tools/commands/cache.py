"""``bce-grad cache``: show or empty the kernel cache (``$BCE_GRAD_CACHE``)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cache`` subcommand with its ``info`` and ``clear`` actions."""
    parser = subparsers.add_parser(
        "cache", help="show or empty the compiled-kernel cache",
        description=(
            "The kernel cache holds one compiled kernel per (SoC, target, dtypes, broadcast "
            "pattern, reduction, source). It lives in $BCE_GRAD_CACHE (default "
            "~/.cache/bce-grad/kernels), is capped at $BCE_GRAD_CACHE_MAX_MB MiB (least recently "
            "used kernels go first) and repairs itself: a damaged kernel is rebuilt."),
        epilog="Example: bce-grad cache info; bce-grad cache clear")
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION")
    actions.required = True
    info = actions.add_parser("info", help="print the directory, kernel count, size and cap")
    info.set_defaults(func=run_info)
    clear = actions.add_parser("clear", help="remove every cached kernel not being built now")
    clear.set_defaults(func=run_clear)


def run_info(args: argparse.Namespace) -> int:
    """Print where the cache is, what it holds and its cap."""
    del args
    from bce_grad.tools import kernel_cache

    directory = kernel_cache.cache_dir()
    found = kernel_cache.entries(directory)
    total = sum(item["bytes"] for item in found.values())
    cap = kernel_cache.max_bytes()
    print(f"directory: {directory}{'' if directory.is_dir() else ' (not created yet)'}")
    print(f"kernels: {len(found)}")
    print(f"size: {total / (1 << 20):.2f} MiB of {cap / (1 << 20):.0f} MiB "
          f"(${kernel_cache.MAX_MB_ENV})")
    print(f"orphaned temporary files: {len(kernel_cache.orphans(directory))}")
    return 0


def run_clear(args: argparse.Namespace) -> int:
    """Remove every cached kernel (those being built now are left alone) and orphans."""
    del args
    from bce_grad.tools import kernel_cache

    directory = kernel_cache.cache_dir()
    removed, busy = kernel_cache.clear(directory)
    print(f"removed {removed} kernel(s) from {directory}"
          + (f"; {busy} being built now were left" if busy else ""))
    return 0

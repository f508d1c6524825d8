import platform
import sys

from mmc.utils.memory import keep_freed_memory


def test_malloc_thresholds_are_set_on_glibc_and_only_there():
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is on_glibc
    assert keep_freed_memory() is on_glibc  # idempotent: a second call changes nothing

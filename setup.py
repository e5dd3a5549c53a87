"""Build the optional C accelerator; all other metadata lives in pyproject.toml.

wscli works without a C compiler: wscli.core.masking falls back to pure Python when
wscli.core._speedups is missing. So a failed build warns and carries on, and setting
WSCLI_NO_EXTENSIONS=1 skips it on purpose (to test the fallback as installed).
"""

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

__all__ = ["OptionalBuildExt"]


class OptionalBuildExt(build_ext):
    """Build extensions, but warn instead of failing when the toolchain is missing.

    ``Extension(optional=True)`` covers a failed compile or link. This also covers
    errors raised before any extension is compiled, e.g. no compiler found at all.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any build failure must leave the fallback usable
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: Exception) -> None:
        print(
            f"WARNING: could not build wscli's C speedups ({exc}); using the pure-Python fallback",
            file=sys.stderr,
        )


ext_modules = []
if os.environ.get("WSCLI_NO_EXTENSIONS", "") in ("", "0"):
    ext_modules.append(
        Extension(
            "wscli.core._speedups",
            ["wscli/core/_speedups.c", "wscli/core/_payload.c"],
            depends=["wscli/core/_speedups.h"],
            optional=True,
        ),
    )

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})

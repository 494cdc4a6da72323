"""denoise.extras: the install hints name packages, never the unrelated PyPI project called denoise."""

import re
import sys

import pytest

from denoise.extras import EXTRAS, install_hint
from tests.conftest import REPO


def test_hints_name_the_packages_themselves():
    assert install_hint("report") == "pip install matplotlib"
    assert install_hint("onnx") == "pip install onnx onnxruntime"
    assert all("denoise" not in install_hint(e) for e in EXTRAS)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib")
def test_the_hints_agree_with_the_extras_of_pyproject():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for extra, packages in EXTRAS.items():
        declared = {re.split(r"[<>=!~ ]", req)[0] for req in project["optional-dependencies"][extra]}
        assert declared == set(packages), extra

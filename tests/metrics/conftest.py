import pytest


def pytest_collection_modifyitems(items):
    # pycocotools 2.0.11 calls np.array(..., copy=False) on numpy 2: harmless, but noisy.
    for item in items:
        if "tests/metrics/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*"))

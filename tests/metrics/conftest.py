import pytest


def pytest_collection_modifyitems(items):
    # pycocotools 2.0.11 calls np.array(..., copy=False) on numpy 2: harmless, but noisy.
    for item in items:
        if "tests/metrics/" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*"))


@pytest.fixture(scope="session")
def davis_case(tmp_path_factory):
    """The DAVIS-2017 tree and results folders of ``jf_cases.write_davis_case`` (read-only)."""
    from tests.metrics.jf_cases import write_davis_case

    return write_davis_case(tmp_path_factory.mktemp("davis_case"))


@pytest.fixture(scope="session")
def mevis_case(tmp_path_factory):
    """The MeViS split and results folder of ``jf_cases.write_mevis_case`` (read-only)."""
    from tests.metrics.jf_cases import write_mevis_case

    return write_mevis_case(tmp_path_factory.mktemp("mevis_case"))

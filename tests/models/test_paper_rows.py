"""The paper-row commands in README.md and docs/reproduce.md compose into the intended runs."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from cmpcv.models.build import check_word_vectors
from tests.models.conftest import CONF

ROOT = Path(__file__).resolve().parents[2]


def commands(doc: Path, app: str) -> list[list[str]]:
    """Every ``python -m <app> ...`` command of the doc's bash blocks, continuation lines joined,
    as its list of hydra overrides."""
    text = doc.read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            if words[:3] == ["python", "-m", app]:
                out.append(words[3:])
    return out


BACKBONES = {"cmpcv_r2d_a2d": "cmpcv.models.backbones.DeepLabResNet101",
             "cmpcv_i3d_a2d": "cmpcv.models.backbones.I3D"}
TRAIN = [(doc, c) for doc in ("README.md", "docs/reproduce.md") for c in commands(ROOT / doc, "cmpcv.train")
         if any(w.split("=", 1)[-1] in BACKBONES for w in c if w.startswith("experiment="))]
VIDEO_TRAIN = [c for c in commands(ROOT / "README.md", "cmpcv.train")
               if any(w.startswith("experiment=cmpcv_") and w.split("=", 1)[1] not in BACKBONES for w in c)]
EVALUATE = [c for c in commands(ROOT / "docs/reproduce.md", "cmpcv.evaluate")]


def test_the_docs_give_both_rows_in_both_places():
    found = {(doc, next(w for w in c if w.startswith("experiment="))) for doc, c in TRAIN}
    assert found == {(doc, f"experiment={e}") for doc in ("README.md", "docs/reproduce.md") for e in BACKBONES}
    assert len(EVALUATE) == 4


@pytest.mark.parametrize("doc, overrides", TRAIN, ids=[f"{d}:{c[0]}" for d, c in TRAIN])
def test_paper_row_train_command_composes_to_the_released_row(doc, overrides):
    import cmpcv.train  # noqa: F401  (registers the resolvers)

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    check_word_vectors(cfg)  # the command names the word vectors
    experiment = next(w.split("=", 1)[1] for w in overrides if w.startswith("experiment="))
    assert cfg.model.backbone._target_ == BACKBONES[experiment]
    assert cfg.model.backbone.weights and cfg.model.backbone.normalize is None  # the weights' own pixels
    assert str(cfg.text.word_vectors).endswith("glove.840B.300d.txt")
    assert cfg.dataset.name == "a2d" and cfg.trainer.batch_size == 1 and cfg.optim.decay_steps == 400000


@pytest.mark.parametrize("overrides", EVALUATE)
def test_reproduce_evaluate_commands_compose(overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("evaluate", overrides=overrides)
    assert cfg.checkpoint.endswith("checkpoints/last.pt") and cfg.protocol in ("cmpc", "mttr")
    assert cfg.dataset.name in ("a2d", "jhmdb")


@pytest.mark.parametrize("overrides", VIDEO_TRAIN, ids=[c[0] for c in VIDEO_TRAIN])
def test_video_benchmark_train_commands_compose(overrides):
    import cmpcv.train  # noqa: F401  (registers the resolvers)

    assert len(VIDEO_TRAIN) == 3
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    check_word_vectors(cfg)
    assert cfg.dataset.name in ("ytvos", "mevis") and cfg.model.backbone._target_ == BACKBONES["cmpcv_i3d_a2d"]
    assert str(cfg.text.word_vectors).endswith("glove.840B.300d.txt")


"""``cmpcv.predict`` on a real video (30 frames of bikes.mp4) with a briefly trained tiny checkpoint."""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cmpcv.predict import PredictError, load_predictor, run, segment_video

from .conftest import CUT, SENTENCES, SHORT, make_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _decode_all(path: Path) -> tuple[np.ndarray, float]:
    """Every frame of a video with PyAV (independent of cmpcv's reader) and its frame rate."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(stream)])
        return frames, float(stream.average_rate)


def _reference_masks(predictor, frames: np.ndarray, sentence: str, threshold: float = 0.5) -> np.ndarray:
    """The naive definition: for each frame, its clamped clip through ``model(...)``, one at a time."""
    from cmpcv.data.transforms import restore_mask

    n = len(frames)
    tokens, mask = predictor.collator.encode([sentence])
    out = []
    for c in range(n):
        idx = [min(max(c + o, 0), n - 1) for o in predictor.sampler.offsets]  # clamped at the ends
        x = torch.from_numpy(frames[idx]).permute(0, 3, 1, 2).float() / 255
        x, _, geometry = predictor.resizer(x)
        with torch.no_grad():
            logits = predictor.model(x.contiguous()[None], tokens, mask)["logits"][0]
        out.append(restore_mask(torch.sigmoid(logits), geometry, threshold))
    return np.stack(out)


# ------------------------------------------------------------------------------ the model paths
def test_whole_video_engine_matches_the_model(checkpoint, bikes_frames, bikes_cut):
    """The engine (each frame through the backbone once, shared by every clip and sentence) and
    the naive loop give the model's own per-clip result, including the clamped clips at both ends
    of the video, from decoded frames and from the mp4 itself."""
    predictor = load_predictor(checkpoint, "cpu")
    assert predictor.sampler.offsets == (-8, -4, 0, 4, 7)  # the checkpoint's clip setting (r2d)
    frames = bikes_frames[:10]
    ref = np.stack([_reference_masks(predictor, frames, s) for s in SENTENCES[:2]])
    assert 0.05 < ref.mean() < 0.95, "the fixture checkpoint should predict partial masks"
    for mode in ("auto", "none"):
        got = segment_video(predictor, frames, SENTENCES[:2], batch_size=4, reuse=mode, progress=False)
        assert got.shape == (2, 10, 272, 640) and got.dtype == np.uint8
        # Batched float sums may flip a pixel lying exactly on the threshold; nothing more.
        assert (got != ref).mean() < 1e-4, mode
    decoded = _decode_all(bikes_cut)[0]
    from_file = segment_video(predictor, bikes_cut, SENTENCES[:1], batch_size=4, progress=False)
    assert (from_file[0] != _reference_masks(predictor, decoded, SENTENCES[0])).mean() < 1e-4


def test_refining_head_gets_each_clips_frame_in_every_reuse_mode(tmp_path, bikes_frames):
    ckpt = make_checkpoint(tmp_path / "refine.pt", overrides=("model.head.refine_channels=4",))
    predictor = load_predictor(ckpt, "cpu")
    # A strong refiner, so that handing it any frame but the clip's middle one changes the masks.
    torch.manual_seed(0)
    torch.nn.init.normal_(predictor.model.head.refine.net[-1].weight, std=2.0)
    frames = bikes_frames[:6]
    ref = _reference_masks(predictor, frames, SENTENCES[0])
    refiner, predictor.model.head.refine = predictor.model.head.refine, None
    plain = _reference_masks(predictor, frames, SENTENCES[0])
    predictor.model.head.refine = refiner
    assert (ref != plain).mean() > 0.01, "the refiner should change the masks"
    for mode in ("auto", "none"):
        got = segment_video(predictor, frames, SENTENCES[:1], batch_size=4, reuse=mode, progress=False)
        assert (got[0] != ref).mean() < 1e-4, mode


def test_the_command_streams_the_video(tmp_path, checkpoint, bikes_cut, bikes_frames, monkeypatch):
    """The command never holds the decoded video: frames stream from the file through the engine
    into the encoder, each decoded once; the output equals drawing the engine's masks."""
    monkeypatch.setattr("cmpcv.predict.read_video", lambda *a: pytest.fail("decoded the whole video"))
    reads = []
    from cmpcv.data.frame_sources import VideoFile

    original = VideoFile.read
    monkeypatch.setattr(VideoFile, "read", lambda self, idx: reads.append(list(idx)) or original(self, idx))
    report = run(_cfg(video=str(bikes_cut), text=[SENTENCES[0], SENTENCES[1]], checkpoint=str(checkpoint),
                      output=str(tmp_path / "o.mp4"), masks=str(tmp_path / "m.npz"), batch_size=4))
    assert sorted(f for chunk in reads for f in chunk) == list(range(CUT)) and max(map(len, reads)) <= 4
    assert report["frames"] == CUT
    masks = np.load(tmp_path / "m.npz")["masks"]
    predictor = load_predictor(checkpoint, "cpu")
    want = segment_video(predictor, bikes_frames, SENTENCES[:2], batch_size=4, progress=False)
    np.testing.assert_array_equal(masks, want)


def test_3d_backbone(tmp_path, bikes_frames):
    ckpt = make_checkpoint(tmp_path / "tiny3d.pt", backbone="tiny3d", clip="contiguous8", steps=0)
    predictor = load_predictor(ckpt, "cpu")
    assert predictor.sampler.num_frames == 8
    frames = bikes_frames[:4]
    got = segment_video(predictor, frames, ["trees"], batch_size=4, progress=False)
    assert (got[0] != _reference_masks(predictor, frames, "trees")).mean() < 1e-4


# ------------------------------------------------------------------------------ the command
def _cfg(**kw):
    base = {"batch_size": 8, "device": "cpu", "threshold": 0.5, "fps": None, "masks": None, "progress": False}
    return {**base, **kw}


def test_video_npz_and_unknown_words(tmp_path, checkpoint, bikes_cut, bikes_frames, caplog):
    out = tmp_path / "new" / "folder" / "bikes_seg.mp4"  # the folder does not exist yet
    with caplog.at_level(logging.WARNING, logger="cmpcv.predict"):
        report = run(_cfg(video=str(bikes_cut), text=[SENTENCES[0], SENTENCES[2]], checkpoint=str(checkpoint),
                          output=str(out), masks=str(tmp_path / "m.npz")))
    # "a man riding a bike": man, riding, bike are not in the tiny vocabulary; reported once.
    oov = [r for r in caplog.records if "vocabulary" in r.getMessage()]
    assert len(oov) == 1 and all(w in oov[0].getMessage() for w in ("man", "riding", "bike"))
    assert report["unknown_words"] == ["man", "riding", "bike"]
    assert report["frames"] == CUT and report["model_fps"] > 0

    video, fps = _decode_all(out)
    assert video.shape == (CUT, 272, 640, 3) and fps == pytest.approx(25.0)
    data = np.load(tmp_path / "m.npz")
    masks = data["masks"]
    assert masks.shape == (2, CUT, 272, 640) and set(np.unique(masks)) <= {0, 1}
    assert list(data["sentences"]) == [SENTENCES[0], SENTENCES[2]] and float(data["fps"]) == 25.0
    # The mp4 is lossy: compare region means. Above the caption band, pixels outside both masks
    # stay the input's; inside the first mask they are blended towards its colour.
    band = int(0.4 * 272)
    body = np.zeros((272, 640), bool)
    body[: 272 - band] = True
    inside = masks[0].astype(bool) & body
    outside = ~(masks[0] | masks[1]).astype(bool) & body
    assert inside.any() and outside.any()
    diff = np.abs(video.astype(np.int16) - bikes_frames.astype(np.int16)).sum(-1)
    assert diff[outside].mean() < 12 < 30 < diff[inside].mean()


def test_gif_png_folder_fps_and_atomic_replace(tmp_path, checkpoint, bikes_short):
    from PIL import Image

    out = tmp_path / "seg.gif"
    out.write_bytes(b"an older, unrelated file")
    folder = tmp_path / "masks"
    folder.mkdir()  # an empty folder is fine
    # An earlier run with two sentences left s1/, s2/ and sentences.txt there.
    run(_cfg(video=str(bikes_short), text=["the trees at the top", "trees"], checkpoint=str(checkpoint),
             output=str(tmp_path / "first.mp4"), masks=str(folder)))
    assert len(list(folder.glob("s2/*.png"))) == SHORT
    run(_cfg(video=str(bikes_short), text="the trees at the top", checkpoint=str(checkpoint), output=str(out),
             masks=str(folder), fps=10))
    with Image.open(out) as gif:
        assert gif.n_frames == SHORT and gif.size == (640, 272)
        assert gif.info["duration"] == 100  # fps=10 overrides the input's 25
    pngs = sorted(folder.glob("*.png"))
    assert [p.name for p in pngs] == [f"{t:05d}.png" for t in range(1, SHORT + 1)]
    # What the earlier run wrote and this one did not is gone; only the masks and the manifest stay.
    assert sorted(p.name for p in folder.iterdir()) == [".cmpcv-predict.json", *[p.name for p in pngs]]
    first = np.asarray(Image.open(pngs[0]))
    assert first.shape == (272, 640) and set(np.unique(first)) <= {0, 255} and first.any()
    assert not list(tmp_path.glob(".tmp-*")) and not list(folder.glob(".tmp-*"))


def test_hydra_config_and_several_sentences_in_subfolders(tmp_path, checkpoint, bikes_short):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("predict", overrides=[
            f"video={bikes_short}", "text=[the road at the bottom,the trees at the top]", f"checkpoint={checkpoint}",
            f"output={tmp_path / 'o.mp4'}", f"masks={tmp_path / 'm'}", "progress=false", "device=cpu"])
    assert cfg.fps is None and cfg.threshold == 0.5 and cfg.batch_size == 8
    report = run(cfg)
    assert report["sentences"] == SENTENCES[:2]
    for k in (1, 2):
        assert len(list((tmp_path / "m" / f"s{k}").glob("*.png"))) == SHORT
    assert "s2: the trees at the top" in (tmp_path / "m" / "sentences.txt").read_text()


# ------------------------------------------------------------------------------ bad input
@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, checkpoint):
    d = tmp_path_factory.mktemp("bad")
    (d / "not_a_video.mp4").write_text("hello")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, d / "other_format.pt")
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["config"]["model"]["backbone"]["_target_"] = "cmpcv.models.backbones.Tiny3D"  # weights stay 2D
    torch.save(ckpt, d / "other_arch.pt")
    no_vocab = {k: v for k, v in ckpt.items() if k != "vocab"}
    torch.save(no_vocab, d / "no_vocab.pt")
    return d


@pytest.mark.parametrize("case, match", [
    ("missing_video", "video .*missing.mp4 not found"),
    ("undecodable_video", r"not_a_video.mp4: could not decode the video \(decord: .*; PyAV: .*\)$"),
    ("empty_sentence", "no sentence given"),
    ("blank_in_list", "sentence 2 .* has no words"),
    ("empty_list", "holds no sentence"),
    ("missing_checkpoint", "checkpoint .*nope.pt not found"),
    ("other_format", "not a cmpcv checkpoint"),
    ("other_arch", "another architecture"),
    ("no_vocab", "no 'vocab' entry"),
    ("output_suffix", "must end in .mp4 .* or .gif"),
    ("masks_is_a_file", "masks=.* is a file"),
    ("batch_size_zero", "batch_size=0 must be an integer >= 1"),
    ("fps_zero", r"fps=0 must be a positive number \(or null for the input's rate\)"),
    ("reuse_unknown", "reuse=all must be one of auto, none"),
    ("run_without_checkpoint", r"run=.*: no checkpoints/best.pt or checkpoints/last.pt in it"),
    ("run_and_checkpoint", "either run=DIR or checkpoint=PATH, not both"),
])
def test_bad_input_is_one_clear_line(case, match, tmp_path, checkpoint, bikes_short, bad_files):
    kw = {"video": str(bikes_short), "text": "trees", "checkpoint": str(checkpoint), "output": str(tmp_path / "o.mp4")}
    (tmp_path / "run").mkdir()
    kw.update({
        "missing_video": {"video": str(tmp_path / "missing.mp4")},
        "undecodable_video": {"video": str(bad_files / "not_a_video.mp4")},
        "empty_sentence": {"text": "  "},
        "blank_in_list": {"text": ["trees", ""]},
        "empty_list": {"text": []},
        "missing_checkpoint": {"checkpoint": str(tmp_path / "nope.pt")},
        "other_format": {"checkpoint": str(bad_files / "other_format.pt")},
        "other_arch": {"checkpoint": str(bad_files / "other_arch.pt")},
        "no_vocab": {"checkpoint": str(bad_files / "no_vocab.pt")},
        "output_suffix": {"output": str(tmp_path / "o.avi")},
        "masks_is_a_file": {"masks": str(bad_files / "not_a_video.mp4")},
        "batch_size_zero": {"batch_size": 0},  # not silently the default 8
        "fps_zero": {"fps": 0},  # not silently the input's rate
        "reuse_unknown": {"reuse": "all"},
        "run_without_checkpoint": {"checkpoint": None, "run": str(tmp_path / "run")},
        "run_and_checkpoint": {"run": str(tmp_path / "run")},
    }[case])
    with pytest.raises(PredictError, match=match) as info:
        run(_cfg(**kw))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "o.mp4").exists()


def test_sentence_longer_than_the_model_reads_is_a_warning(tmp_path, checkpoint, bikes_short, caplog):
    sentence = " ".join(["the trees at the top"] * 5)  # 25 words; the checkpoint's model reads 20
    with caplog.at_level(logging.WARNING, logger="cmpcv.predict"):
        run(_cfg(video=str(bikes_short), text=sentence, checkpoint=str(checkpoint), output=str(tmp_path / "o.mp4")))
    assert [r.getMessage() for r in caplog.records if "words" in r.getMessage() and "reads" in r.getMessage()] == [
        "sentence 1 has 25 words; the checkpoint's model reads the first 20 (trainer.max_words), so it ignores: "
        "the trees at the top"]


@pytest.fixture
def no_segmenting(monkeypatch):
    """Output problems must be found before the video is segmented: segmenting fails the test."""
    def fail(*args, **kwargs):
        raise AssertionError("segmenting started before the bad output path was refused")

    monkeypatch.setattr("cmpcv.predict.iter_segments", fail)


def test_output_never_replaces_the_video(tmp_path, checkpoint, bikes_short, no_segmenting):
    video = tmp_path / "clip.mp4"
    shutil.copy(bikes_short, video)
    before = video.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mp4").symlink_to(video)
    for output in (video, tmp_path / "sub" / ".." / "clip.mp4", tmp_path / "link.mp4"):  # same file, by resolved path
        with pytest.raises(PredictError, match=r"output=.* is the video \(.*clip.mp4\): writing it would replace your "
                                               r"video; give another output path"):
            run(_cfg(video=str(video), text="trees", checkpoint=str(checkpoint), output=str(output)))
    odd = tmp_path / "weights.npz"  # a checkpoint under a name that masks= would accept
    shutil.copy(checkpoint, odd)
    with pytest.raises(PredictError, match=r"masks=.*weights.npz is the checkpoint"):
        run(_cfg(video=str(video), text="trees", checkpoint=str(odd), output=str(tmp_path / "o.mp4"), masks=str(odd)))
    assert video.read_bytes() == before and odd.read_bytes() == checkpoint.read_bytes()


def test_masks_folder_of_other_files_is_refused(tmp_path, checkpoint, bikes_short, no_segmenting):
    folder = tmp_path / "masks"
    folder.mkdir()
    for t in range(1, 11):  # the user's own frames, named like the masks
        (folder / f"{t:05d}.png").write_bytes(b"a user's file %d" % t)
    with pytest.raises(PredictError, match=r"masks=.*masks already holds 10 file\(s\) that cmpcv.predict did not "
                                           r"write \(e.g. 00001.png\); give a new or empty folder"):
        run(_cfg(video=str(bikes_short), text="trees", checkpoint=str(checkpoint), output=str(tmp_path / "o.mp4"),
                 masks=str(folder)))
    assert sorted(p.read_bytes() for p in folder.iterdir()) == sorted(b"a user's file %d" % t for t in range(1, 11))
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("key", ["output", "masks"])
def test_output_under_an_existing_file_fails_before_segmenting(tmp_path, checkpoint, bikes_short, key,
                                                               no_segmenting):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    paths = {"output": str(tmp_path / "o.mp4"), "masks": None,
             key: str(tmp_path / "notes.txt" / ("o.mp4" if key == "output" else "m.npz"))}
    with pytest.raises(PredictError, match=rf"{key}=.* cannot be written: .*notes.txt is a file, not a folder"):
        run(_cfg(video=str(bikes_short), text="trees", checkpoint=str(checkpoint), **paths))


def test_run_dir_picks_best_else_last(tmp_path, checkpoint, bikes_short):
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    shutil.copy(checkpoint, ckpts / "last.pt")
    kw = _cfg(video=str(bikes_short), text="trees", output=str(tmp_path / "o.mp4"), run=str(tmp_path / "run"))
    assert run(kw)["checkpoint"] == ckpts / "last.pt"
    (ckpts / "best.pt").write_bytes(b"not a checkpoint")  # best.pt wins when present
    with pytest.raises(PredictError, match=r"checkpoint .*best.pt could not be read"):
        run(kw)


def test_command_line_error_exits_nonzero_without_traceback(tmp_path, checkpoint):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "cmpcv.predict", f"video={tmp_path / 'missing.mp4'}", "text=a man on a bike",
         f"checkpoint={checkpoint}", f"output={tmp_path / 'o.mp4'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: video ") and "missing.mp4 not found" in lines[0]
    assert list(tmp_path.iterdir()) == []  # no hydra output folder, no log file


@pytest.mark.slow
def test_whole_bikes_video_with_a_shapes_checkpoint(tmp_path, bikes_full):
    """The whole path a user takes: the command on all of bikes.mp4 with a checkpoint of
    ``python -m cmpcv.train experiment=shapes`` (a few steps here), both through the command line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    run_dir = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-m", "cmpcv.train", "experiment=shapes", "trainer.max_steps=3", "trainer.test_at_end=false",
         "trainer.val_every=0", "trainer.progress=false", f"hydra.run.dir={run_dir}",
         f"paths.data_dir={tmp_path / 'data'}"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=1200,
    )
    out = tmp_path / "bikes_seg.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "cmpcv.predict", f"video={bikes_full}", "text=[a red circle moving left,a man]",
         f"checkpoint={run_dir / 'checkpoints' / 'last.pt'}", f"output={out}", f"masks={tmp_path / 'm.npz'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    assert "frames/s" in proc.stdout
    assert (proc.stdout + proc.stderr).count("not in the checkpoint's vocabulary") == 1
    video, fps = _decode_all(out)
    assert video.shape == (250, 272, 640, 3) and fps == pytest.approx(25.0)
    assert np.load(tmp_path / "m.npz")["masks"].shape == (2, 250, 272, 640)


def test_a_folder_of_jpeg_frames(tmp_path, checkpoint, bikes_frames, caplog):
    """video= a folder of JPEG frames (Refer-YouTube-VOS style): the same masks as the engine on
    those frames as decoded; the frame rate is 25 unless fps= says otherwise."""
    from cmpcv.data.frame_folder import FrameFolder, write_jpeg_frames

    folder = tmp_path / "JPEGImages" / "clip"
    write_jpeg_frames(folder, bikes_frames[:12], [f"{5 * i:05d}" for i in range(12)])
    with caplog.at_level(logging.WARNING, logger="cmpcv.predict"):
        report = run(_cfg(video=str(folder), text=[SENTENCES[0], SENTENCES[1]], checkpoint=str(checkpoint),
                          output=str(tmp_path / "o.mp4"), masks=str(tmp_path / "m.npz")))
    assert report["frames"] == 12 and report["fps"] == 25.0
    assert any("folder of frames states no frame rate" in r.getMessage() for r in caplog.records)
    decoded, _ = FrameFolder.listing(folder).read(range(12))
    want = segment_video(load_predictor(checkpoint, "cpu"), decoded, SENTENCES[:2], batch_size=4, progress=False)
    np.testing.assert_array_equal(np.load(tmp_path / "m.npz")["masks"], want)
    assert _decode_all(tmp_path / "o.mp4")[0].shape[0] == 12

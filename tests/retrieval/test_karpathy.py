import json

import pytest
import torch

from mmc.errors import DataError
from mmc.retrieval.karpathy import load_split, preprocess_caption


def test_caption_preprocessing_lowercases_strips_and_truncates():
    assert preprocess_caption("A Dog, running!  on the BEACH.", 4) == "a dog running on"


def test_train_and_eval_formats_map_to_images(karpathy_root):
    train = load_split(karpathy_root, "flickr30k", "train")
    test = load_split(karpathy_root, "flickr30k", "test")
    assert len(train.images) == 12 and len(train.captions) == 60
    assert len(test.images) == 4 and len(test.captions) == 20
    # Five captions per image, caption j of image i points back at image i.
    assert train.txt2img[:6] == [0, 0, 0, 0, 0, 1]
    assert test.txt2img[-1] == 3


def test_missing_annotation_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="flickr30k_train.json not found"):
        load_split(tmp_path, "flickr30k", "train")


def test_prepare_then_distil_and_evaluate_end_to_end(
    karpathy_root, compose, tmp_path, tiny_encoders
):
    """Tiny Karpathy folder -> features with tiny encoders -> distil 10 pairs -> evaluate."""
    from mmc.prepare import main as prepare_main
    from mmc.train import train

    enc = [o.format(root=karpathy_root) for o in tiny_encoders]
    assert prepare_main(["dataset=flickr30k", *enc]) == 0
    cached = list((karpathy_root / "mmc_features").glob("flickr30k_*.pt"))
    assert len(cached) == 1
    payload = torch.load(cached[0], weights_only=True)
    assert payload["train"]["img"].shape == (12, 16) and payload["test"]["txt"].shape == (20, 32)

    cfg = compose(
        "dataset=flickr30k", "remedy=repblend", *enc, "logger=none", "progress=false",
        "data.num_pairs=10", "train.epochs=2", "remedy.iterations=3", "remedy.num_experts=2",
        "remedy.expert_train_epochs=2", "remedy.batch_syn=5", "remedy.syn_steps=2",
        "remedy.log_every=1", f"remedy.expert_dir={tmp_path / 'experts'}",
        tiny=False, run_dir=tmp_path / "run",
    )  # fmt: skip
    summary = train(cfg)
    assert summary["train_set"] == {"source": "distilled", "pairs": 10, "soft_similarity": True}
    assert set(summary["test"]) >= {"ir@1", "ir@5", "ir@10", "tr@1", "tr@5", "tr@10"}
    run = tmp_path / "run"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert len((run / "distill.jsonl").read_text().splitlines()) == 3
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert (run / "similarity.png").exists() and (run / "checkpoints" / "best.pt").exists()
    # Experts are cached: a second distillation reuses them instead of training new ones.
    experts = sorted((tmp_path / "experts").rglob("expert_*.pt"))
    assert len(experts) == 2
    stamp = [p.stat().st_mtime_ns for p in experts]
    train(compose(*cfg_overrides(enc, tmp_path), tiny=False, run_dir=tmp_path / "run2"))
    assert [p.stat().st_mtime_ns for p in experts] == stamp


def cfg_overrides(enc, tmp_path):
    return [
        "dataset=flickr30k", "remedy=repblend", *enc, "logger=none", "progress=false",
        "data.num_pairs=10", "train.epochs=1", "remedy.iterations=1", "remedy.num_experts=2",
        "remedy.expert_train_epochs=2", "remedy.batch_syn=5", "remedy.syn_steps=2",
        f"remedy.expert_dir={tmp_path / 'experts'}", "remedy.blend=false", "remedy.symmetric=false",
    ]  # fmt: skip


def _original(root, name, images):
    fname = {"flickr30k": "dataset_flickr30k.json", "mscoco": "dataset_coco.json"}[name]
    (root / fname).write_text(json.dumps({"dataset": name, "images": images}))


def test_original_karpathy_json_loads_with_restval_in_train(tmp_path):
    def img(i, split, filepath=None):
        e = {"filename": f"{i}.jpg", "split": split, "imgid": i,
             "sentences": [{"raw": f"A Dog number {i}, caption {j}.", "tokens": []} for j in range(5)]}  # fmt: skip
        if filepath:
            e["filepath"] = filepath
        return e

    coco = tmp_path / "coco"
    coco.mkdir()
    _original(coco, "mscoco", [img(0, "train", "train2014"), img(1, "restval", "val2014"),
                               img(2, "val", "val2014"), img(3, "test", "val2014")])  # fmt: skip
    train = load_split(coco, "mscoco", "train")
    assert train.images == ["train2014/0.jpg", "val2014/1.jpg"]  # restval -> train
    assert len(train.captions) == 10 and train.txt2img == [0] * 5 + [1] * 5
    assert train.captions[0] == "a dog number 0 caption 0"
    assert load_split(coco, "mscoco", "test").images == ["val2014/3.jpg"]

    flickr = tmp_path / "flickr"
    (flickr / "flickr30k-images").mkdir(parents=True)
    _original(flickr, "flickr30k", [img(5, "train"), img(6, "val"), img(7, "test")])
    val = load_split(flickr, "flickr30k", "val")
    assert val.images == ["flickr30k-images/6.jpg"] and len(val.captions) == 5


def test_original_karpathy_json_missing_fields_is_a_data_error(tmp_path):
    _original(tmp_path, "flickr30k", [{"filename": "a.jpg", "split": "train"}])
    with pytest.raises(DataError, match="sentences"):
        load_split(tmp_path, "flickr30k", "train")

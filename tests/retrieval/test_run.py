import pytest

from mmc.errors import ConfigError
from mmc.train import train

SMALL = [
    "dataset=synthetic_pairs", "logger=none", "progress=false", "train.epochs=2",
    "dataset.source.n_train=150", "dataset.source.n_val=40", "dataset.source.n_test=40",
    "dataset.source.img_dim=24", "dataset.source.txt_dim=16", "dataset.model.embed_dim=16",
    "dataset.source.caption_noise=0.3", "dataset.source.feature_noise=0.3",
]  # fmt: skip


def test_full_data_beats_chance_and_selects_on_validation(compose, tmp_path):
    s = train(compose(*SMALL, "train.epochs=4", tiny=False, run_dir=tmp_path))
    assert s["train_set"]["source"] == "full" and s["train_set"]["pairs"] == 750
    # Chance with 40 test images and 200 captions: IR@10 = 25%, TR@10 about 23%.
    assert s["test"]["ir@10"] > 50 and s["test"]["tr@10"] > 50
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and "val/r_mean" in lines[0]
    assert {"test/modality_gap", "update_norm/model_image", "real_train/intra_cos/text"} <= set(
        s["collapse"]
    )


def test_coreset_run_trains_on_num_pairs(compose, tmp_path):
    s = train(
        compose(*SMALL, "data.coreset=herding", "data.num_pairs=12", tiny=False, run_dir=tmp_path)
    )
    assert s["train_set"] == {"source": "coreset:herding", "pairs": 12, "soft_similarity": False}
    assert "train_set/concentration/image" in s["collapse"]


def test_repblend_on_a_classification_data_set_names_the_retrieval_data_sets(compose, tmp_path):
    with pytest.raises(ConfigError, match="flickr30k, mscoco, synthetic_pairs"):
        train(compose("remedy=repblend", run_dir=tmp_path))


def test_classification_remedies_are_refused_for_retrieval(compose, tmp_path):
    with pytest.raises(ConfigError, match="does not apply to retrieval"):
        train(compose(*SMALL, "remedy=kd", tiny=False, run_dir=tmp_path))


def test_bad_coreset_name_is_a_config_error(compose, tmp_path):
    with pytest.raises(ConfigError, match="data.coreset"):
        train(compose(*SMALL, "data.coreset=best", tiny=False, run_dir=tmp_path))


def test_bad_distillation_init_is_a_config_error(compose, tmp_path):
    with pytest.raises(ConfigError, match="remedy.init"):
        train(compose(*SMALL, "remedy=repblend", "remedy.init=best", tiny=False, run_dir=tmp_path))

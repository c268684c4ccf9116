"""Cloud-URI storage: where Ray writes, the local mirror, and the copies between them (file:// stands in for s3://)."""

from __future__ import annotations

from pathlib import Path

from tune.storage import download, local_run_dir, ray_storage_path, upload


def test_paths_for_local_and_remote_storage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local_run_dir("s3://bucket/exp", "hyb") == tmp_path / "results" / "hyb"
    assert ray_storage_path("s3://bucket/exp/", "hyb", tmp_path) == "s3://bucket/exp/hyb"
    assert local_run_dir("out", "hyb") == tmp_path / "out" / "hyb"
    assert ray_storage_path("out", "hyb", tmp_path / "out" / "hyb") == str(tmp_path / "out" / "hyb")


def test_download_and_upload_round_trip(tmp_path):
    bucket = tmp_path / "bucket" / "hyb"
    (bucket / "search" / "trial_1").mkdir(parents=True)
    (bucket / "search" / "trial_1" / "progress.csv").write_text("epoch\n1\n")
    mirror = tmp_path / "mirror" / "hyb"
    download(f"file://{bucket}/search", mirror / "search")
    assert (mirror / "search" / "trial_1" / "progress.csv").read_text() == "epoch\n1\n"

    (mirror / "summary.csv").write_text("trial_id\nx\n")
    (mirror / "report").mkdir()
    (mirror / "report" / "report.md").write_text("# report\n")
    upload(mirror, f"file://{bucket}")
    assert (bucket / "summary.csv").read_text() == "trial_id\nx\n"
    assert (bucket / "report" / "report.md").read_text() == "# report\n"
    assert not Path(bucket / "best.json").exists()

"""Where results live: a local folder, or a cloud URI (``s3://``, ``gs://``, any pyarrow file system) for clusters.

With a URI, Ray writes the experiments straight to the bucket (every node sees it), and ranktune keeps a local
mirror ``./results/<name>/``: the experiment folders are downloaded there after the run to build ``summary.csv``
and the report, and ranktune's own files (spec, summaries, best, manifest, report) are uploaded next to Ray's.
"""

from __future__ import annotations

from pathlib import Path

from tune.cluster import is_remote_uri

OWN_FILES = ("spec.yaml", "summary.csv", "best.json", "manifest.json", "replicate_summary.csv")


def local_run_dir(storage: str, name: str) -> Path:
    """The local results folder of an experiment (the mirror for a URI)."""
    if is_remote_uri(storage):
        return (Path("results") / name).resolve()
    return (Path(storage.removeprefix("file://")) / name).resolve()


def ray_storage_path(storage: str, name: str, run_dir: Path) -> str:
    """What Ray's ``RunConfig(storage_path=...)`` gets: the URI of the experiment, or the local run folder."""
    if is_remote_uri(storage):
        return f"{storage.rstrip('/')}/{name}"
    return str(run_dir)


def download(uri: str, local: Path) -> None:
    """Copy a folder of a pyarrow file system URI (``s3://bucket/x``) to a local folder."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    local.mkdir(parents=True, exist_ok=True)
    pafs.copy_files(path, str(local), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())


def upload(local: Path, uri: str, names: tuple[str, ...] = OWN_FILES) -> None:
    """Copy ranktune's own result files (those that exist) from the local mirror to the URI folder."""
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    fs.create_dir(path, recursive=True)
    for name in names:
        src = local / name
        if src.exists():
            pafs.copy_files(
                str(src),
                f"{path}/{name}",
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=fs,
            )
    report = local / "report"
    if report.is_dir():
        fs.create_dir(f"{path}/report", recursive=True)
        pafs.copy_files(
            str(report), f"{path}/report", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
        )

"""Run folders: the one owner of what a trainer writes and how a run resumes.

Modules: ``folder`` (numbered ``00000-desc`` folders, options JSON, log files), ``snapshots``
(``<prefix>-NNNNNN`` snapshot + training-state pairs, the newest complete one, optimizer state),
``metric_records`` (``metric-<name>.jsonl`` and ``stats.jsonl``). The index of a snapshot is
whatever the trainer counts (kimg for StyleGAN, epochs elsewhere); names are parameters.

Usage, for a per-epoch trainer (segmentation, translation)::

    from thygan import runs

    NAMES = runs.SnapshotNames(snapshot="hovernet-snapshot", state="training-state")
    run_dir = runs.new_run_dir(outdir, "pannuke-hovernet")          # outdir/00000-pannuke-hovernet
    runs.write_options(run_dir, dataclasses.asdict(opts))            # options.json, before any work
    if (last := runs.latest_snapshot(run_dir, names=NAMES)) is not None:
        counters, _ = runs.load_training_state(runs.state_files(last, names=NAMES)[0], optimizers={"net": opt})
        net.load_state_dict(load_checkpoint(last).networks["net"].state_dict())
    ...  # each epoch:
    runs.write_pair(run_dir, epoch, names=NAMES,
                    write_state=lambda stem: runs.save_training_state(stem, optimizers={"net": opt},
                                                                     tensors={}, counters={"epoch": epoch}),
                    write_snapshot=lambda stem: save_checkpoint(stem, networks={"net": net}))
    runs.append_metric_record(run_dir, {"metric": "dice", "results": {"dice": 0.8}, "snapshot_pkl": ...})
"""

from thygan.runs.folder import (
    CLASSIFIER_RUN_DIGITS,
    GAN_RUN_DIGITS,
    RunLog,
    new_run_dir,
    numbered_runs,
    open_tensorboard,
    read_options,
    tee_to_log,
    write_epoch_scalars,
    write_options,
)
from thygan.runs.metric_records import (
    STATS_FILE,
    append_line,
    append_metric_record,
    metric_file,
    metric_files,
    read_jsonl,
    read_metric_records,
)
from thygan.runs.snapshots import (
    NETWORK_SNAPSHOTS,
    SnapshotNames,
    flatten_optimizer,
    kimg_index,
    latest_snapshot,
    latest_snapshot_json,
    load_state_file,
    load_training_state,
    recover_set_aside,
    restore_optimizer,
    resume_latest,
    save_training_state,
    state_files,
    write_pair,
)

__all__ = [
    "CLASSIFIER_RUN_DIGITS", "GAN_RUN_DIGITS", "NETWORK_SNAPSHOTS", "STATS_FILE", "RunLog", "SnapshotNames",
    "append_line", "append_metric_record", "flatten_optimizer", "kimg_index", "latest_snapshot",
    "latest_snapshot_json", "load_state_file", "load_training_state", "metric_file", "metric_files",
    "new_run_dir", "numbered_runs", "open_tensorboard", "read_jsonl", "read_metric_records", "read_options",
    "recover_set_aside",
    "restore_optimizer", "resume_latest", "save_training_state", "state_files", "tee_to_log",
    "write_epoch_scalars", "write_options", "write_pair",
]

"""TensorBoard logging whose HParams tab is right.

Ray's stock TBX logger writes HParams only at trial end, takes the columns from one arbitrary trial, names the metric
columns ``val/hr@10`` while the scalar tags are sanitised to ``val/hr_10`` (so the columns stay empty), and marks every
trial successful. This subclass declares every searched parameter and every metric (with sanitised names) when a
trial starts, so the HParams table lists running trials too, and writes the real end status. Passing a subclass of
``TBXLoggerCallback`` stops Tune from adding the stock one.
"""

from __future__ import annotations

import re
from typing import Any

from ray.tune.logger.tensorboardx import TBXLoggerCallback

from tune.results import flatten

_INVALID = re.compile(r"[^-/\w\.]")


def clean_tag(name: str) -> str:
    """The tag tensorboardX actually writes for a scalar named ``name``."""
    return _INVALID.sub("_", name).lstrip("/")


class HParamsTBXLogger(TBXLoggerCallback):
    """TBX logger that writes complete HParams entries (see the module docstring).

    Args:
        searched: flat ``a/b`` names of the searched parameters with their discrete values (or ``None`` for a
            continuous range), as ``{name: [values] | None}``.
        metrics: metric names as reported (``val/hr@10``); their scalar tags are ``ray/tune/<name>`` sanitised.
    """

    def __init__(self, searched: dict[str, list[Any] | None], metrics: list[str]) -> None:
        super().__init__()
        self._searched = searched
        self._metrics = metrics

    def _summary(self, tag: str, **plugin_data: Any) -> Any:
        from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

        content = HParamsPluginData(version=0, **plugin_data)
        meta = SummaryMetadata(
            plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=content.SerializeToString())
        )
        return Summary(value=[Summary.Value(tag=tag, metadata=meta)])

    def _experiment(self) -> Any:
        from google.protobuf import struct_pb2
        from tensorboardX.proto.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName

        infos = []
        for name, values in self._searched.items():
            info = HParamInfo(name=name)
            if values is None or {type(v) for v in values} <= {int, float}:
                info.type = DataType.Value("DATA_TYPE_FLOAT64")
                cast: Any = float
            elif {type(v) for v in values} <= {bool}:
                info.type = DataType.Value("DATA_TYPE_BOOL")
                cast = bool
            else:
                info.type = DataType.Value("DATA_TYPE_STRING")
                cast = str
            if values is not None:
                domain = struct_pb2.ListValue()
                domain.extend([cast(v) for v in values])
                info.domain_discrete.CopyFrom(domain)
            infos.append(info)
        metrics = [
            MetricInfo(name=MetricName(tag=clean_tag(f"ray/tune/{m}")), display_name=m) for m in self._metrics
        ]
        return Experiment(hparam_infos=infos, metric_infos=metrics)

    def log_trial_start(self, trial: Any) -> None:
        from tensorboardX.proto.plugin_hparams_pb2 import SessionStartInfo

        super().log_trial_start(trial)
        flat = flatten(trial.config, sep="/")
        start = SessionStartInfo(group_name=str(trial.trial_id))
        for name in self._searched:
            value = flat.get(name)
            if isinstance(value, bool):
                start.hparams[name].bool_value = value
            elif isinstance(value, (int, float)):
                start.hparams[name].number_value = float(value)
            elif value is not None:
                start.hparams[name].string_value = str(value)
        writer = self._trial_writer[trial].file_writer
        writer.add_summary(self._summary("_hparams_/experiment", experiment=self._experiment()))
        writer.add_summary(self._summary("_hparams_/session_start_info", session_start_info=start))
        writer.flush()

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        from tensorboardX.proto.api_pb2 import Status
        from tensorboardX.proto.plugin_hparams_pb2 import SessionEndInfo

        if trial in self._trial_writer:
            status = Status.Value("STATUS_FAILURE" if failed else "STATUS_SUCCESS")
            writer = self._trial_writer[trial].file_writer
            writer.add_summary(
                self._summary("_hparams_/session_end_info", session_end_info=SessionEndInfo(status=status))
            )
            self._trial_writer[trial].close()
            del self._trial_writer[trial]
            del self._trial_result[trial]

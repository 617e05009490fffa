"""The parts of a trained vocoder (features, model, sampler) as plain, storable specs.

A spec is what a config holds for a part: ``{"class_path": ..., "init_args": {...}}`` for the
model and sampler, a mapping of :class:`MelConfig` fields for the features (a distilled
student's spec also holds its ``distillation`` record: plain data, kept as is, never built).
Specs are stored in every run directory and checkpoint; parts are rebuilt from them with
jsonargparse, as configs are parsed: nothing pickled, nothing that runs code from disk. Before
anything is built, model and sampler arguments are checked against their classes' size limits
(see :mod:`vocfw.core.bounds`).

Every class path is resolved against the plugin registry before jsonargparse sees it: only
registered classes (by short name or an import path) are accepted: a spec never imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jsonargparse import ArgumentParser, Namespace

from vocfw.core.audio.mel import MelConfig
from vocfw.core.bounds import size_limit_excess
from vocfw.core.errors import SpecError
from vocfw.core.model import Vocoder
from vocfw.core.registry import Registry, current_registry
from vocfw.core.sampler import Sampler

PARTS = {"model": "models", "sampler": "samplers"}
CLASS_KEYS = {"class_path", "init_args"}
RECORD = "distillation"  # the optional record of how a distilled student was made
FEATURE_LINKS = ("n_mels", "hop_length")  # model arguments taken from the mel features


@dataclass
class Components:
    """A vocoder's features, network and diffusion process, built together from one spec."""

    features: MelConfig
    model: Vocoder
    sampler: Sampler
    spec: dict = field(default_factory=dict)  # the normalised spec they were built from


def _plain(value: Any) -> Any:
    """Namespaces and tuples to dicts and lists, for JSON and YAML."""
    if isinstance(value, Namespace):
        value = value.as_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def one_line(exc: BaseException) -> str:
    """An exception's message with its line breaks and indentation folded into single spaces."""
    return " ".join(str(exc).split())


def refuse_nested_classes(value: Any, where: str) -> None:
    """Raise :class:`SpecError` if ``value`` holds a ``class_path`` at any depth."""
    if isinstance(value, dict):
        if "class_path" in value:
            raise SpecError(f"{where}: nested class_path values are not accepted in init_args")
        for key, item in value.items():
            refuse_nested_classes(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_nested_classes(item, f"{where}[{index}]")


def _class_spec(part: str, value: Any, registry: Registry, where: str) -> tuple[type, dict]:
    """The registered class a part names and the part with that class's canonical path."""
    if not isinstance(value, dict) or "class_path" not in value or set(value) - CLASS_KEYS:
        raise SpecError(f"{where}: {part}: expected a mapping with class_path (and optionally "
                        f"init_args), got {type(value).__name__}")
    cls = registry.resolve(PARTS[part], value["class_path"], f"{where}: {part}.class_path")
    init_args = value.get("init_args", {})
    if not isinstance(init_args, dict):
        raise SpecError(f"{where}: {part}.init_args must be a mapping, got "
                        f"{type(init_args).__name__}")
    refuse_nested_classes(init_args, f"{where}: {part}.init_args")
    return cls, {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}


def checked_spec(
    spec: Any, where: str = "component spec", registry: Registry | None = None
) -> dict:
    """A spec's structure checked and its class paths replaced by registered classes' paths.

    Args:
        spec: ``{"features": {...}, "model": {...}, "sampler": {...}}`` as read from disk.
        where: the file (or other source) named in errors.
        registry: the registered classes (default: :func:`~vocfw.core.registry.current_registry`).

    Raises:
        SpecError: a part is missing or not a mapping, or a class is not registered.
    """
    return _checked(spec, where, registry)[0]


def _checked(spec: Any, where: str, registry: Registry | None) -> tuple[dict, dict[str, type]]:
    """:func:`checked_spec` and the registered class of each part (``model``, ``sampler``)."""
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: expected a mapping with features, model and sampler, got "
                        f"{type(spec).__name__}")
    unknown = sorted(set(spec) - {"features", *PARTS, RECORD})
    if unknown or not set(PARTS) <= set(spec) or not isinstance(spec.get(RECORD, {}), dict):
        raise SpecError(f"{where}: expected the keys features, model and sampler (and a "
                        f"{RECORD} mapping), got {sorted(spec)}")
    features = spec.get("features", {})
    if not isinstance(features, dict):
        raise SpecError(f"{where}: features must be a mapping of mel settings, got "
                        f"{type(features).__name__}")
    registry = registry or current_registry()
    parts = {part: _class_spec(part, spec[part], registry, where) for part in PARTS}
    checked = {part: value for part, (_, value) in parts.items()}
    checked.update({RECORD: spec[RECORD]} if RECORD in spec else {})
    return {"features": features, **checked}, {part: cls for part, (cls, _) in parts.items()}


def _check_sizes(cls: type, part: str, normal: dict, where: str) -> None:
    """Raise :class:`SpecError` when a parsed part asks for more than ``cls``'s size limits."""
    excess = size_limit_excess(cls, normal.get("init_args") or {})
    if excess is not None:
        raise SpecError(f"{where}: {part}.init_args.{excess}")


def add_component_arguments(parser: ArgumentParser, parts: tuple[str, ...]) -> ArgumentParser:
    """Add the schema of a components spec's ``parts`` to ``parser``: the mel ``features``, and
    any registered ``model`` and ``sampler`` as ``{class_path, init_args}``. The one schema of
    ``components.json`` and of ``vocfw fit``'s model and sampler sections."""
    if "features" in parts:
        parser.add_class_arguments(MelConfig, "features")
    if "model" in parts:
        parser.add_subclass_arguments(Vocoder, "model", required=True)
    if "sampler" in parts:
        parser.add_subclass_arguments(Sampler, "sampler", required=True)
    return parser


def _parse(spec: dict, where: str, parts: tuple[str, ...]) -> tuple[ArgumentParser, Namespace]:
    """Parse checked ``parts`` of a spec with jsonargparse, every default filled in.

    Raises:
        SpecError: an unknown argument or value (with jsonargparse's message), or a model and
            sampler that disagree on the diffusion step count.
    """
    parser = add_component_arguments(ArgumentParser(exit_on_error=False), parts)
    try:
        cfg = parser.parse_object({part: spec[part] for part in parts})
    except Exception as exc:  # jsonargparse raises its own error types
        raise SpecError(f"{where}: invalid model/sampler/features spec: {one_line(exc)}") from None
    return parser, cfg


def linked_arguments(model: type, sampler: type, features: str = "features") -> dict[str, str]:
    """The model's constructor arguments linked from another part: argument -> the key whose
    value it takes (``features.n_mels``, ``sampler.init_args.num_steps``).

    Mel bands and hop come from the features (found under ``features``); the step count from
    the sampler's :attr:`~vocfw.core.sampler.Sampler.steps_argument` where the model declares
    a :attr:`~vocfw.core.model.Vocoder.steps_argument` and the sampler one.
    """
    linked = {key: f"{features}.{key}" for key in FEATURE_LINKS}
    if model.steps_argument is not None and sampler.steps_argument is not None:
        linked[model.steps_argument] = f"sampler.init_args.{sampler.steps_argument}"
    return linked


def check_linked_value(key: str, value: Any, source: str, linked: Any, where: str) -> None:
    """Refuse a model argument ``key`` set to ``value`` other than the ``linked`` value of the
    key ``source`` it is taken from.

    Raises:
        SpecError: naming where the model's value was given, both keys and both values.
    """
    if value is not None and linked is not None and value != linked:
        section = source.rsplit(".", 1)[0].removesuffix(".init_args")
        raise SpecError(f"{where}: model.init_args.{key} is {value!r} but {source} is "
                        f"{linked!r}: set {key} once, under {section} (the model takes it from "
                        "there)")


def check_shared_steps(model: dict, sampler: dict, classes: dict[str, type], where: str) -> None:
    """Refuse a model and sampler spec whose training step counts differ (see
    :func:`linked_arguments`; the mel settings are checked on the built model).

    Raises:
        SpecError: both take a step count and the values differ.
    """
    for key, source in linked_arguments(classes["model"], classes["sampler"]).items():
        if key not in FEATURE_LINKS:
            steps = source.rsplit(".", 1)[1]
            check_linked_value(key, model.get("init_args", {}).get(key), source,
                               sampler.get("init_args", {}).get(steps), where)


def normalise_spec(
    spec: dict, where: str = "component spec", registry: Registry | None = None
) -> dict:
    """Validate a ``{"features", "model", "sampler"}`` spec and fill in every default.

    Args:
        spec: the spec; its classes must be registered (see :func:`checked_spec`).
        where: the file (or other source) named in errors.
        registry: the registered classes (default: the process's registry).

    Raises:
        SpecError: an unregistered class, a malformed spec, an unknown argument or value
            (with jsonargparse's message), sizes beyond a class's limits, or a model and
            sampler with different step counts.
    """
    return _normalised(spec, where, registry)[2]


def _normalised(
    spec: dict, where: str, registry: Registry | None
) -> tuple[ArgumentParser, Namespace, dict]:
    """The parser, the parsed spec and its plain normalised form (see :func:`normalise_spec`)."""
    parts = ("features", *PARTS)
    checked, classes = _checked(spec, where, registry)
    parser, cfg = _parse(checked, where, parts)
    normal = _plain({part: cfg[part] for part in parts})
    normal.update({RECORD: checked[RECORD]} if RECORD in checked else {})
    for part, cls in classes.items():
        _check_sizes(cls, part, normal[part], where)
    check_shared_steps(normal["model"], normal["sampler"], classes, where)
    return parser, cfg, normal


def _instantiate(parser: ArgumentParser, cfg: Namespace, where: str) -> Namespace:
    try:
        return parser.instantiate(cfg)
    except Exception as exc:  # the classes' own checks raise many error types
        raise SpecError(f"{where}: cannot build the model/sampler/features spec: "
                        f"{one_line(exc)}") from None


def build_components(
    spec: dict, where: str = "component spec", registry: Registry | None = None
) -> Components:
    """Instantiate features, model and sampler from a spec (see :func:`normalise_spec`); the
    result keeps the normalised spec."""
    parser, cfg, normal = _normalised(spec, where, registry)
    built = _instantiate(parser, cfg, where)
    features = built.features
    features = features if isinstance(features, MelConfig) else MelConfig(**features)
    model, sampler = built.model, built.sampler
    if model.n_mels != features.n_mels or model.hop_length != features.hop_length:
        raise SpecError(
            f"{where}: model {type(model).__name__} expects {model.n_mels} mel bands and hop "
            f"{model.hop_length}, but the features have {features.n_mels} bands and hop "
            f"{features.hop_length}"
        )
    pair_up(features, model, sampler, where)
    return Components(features, model, sampler, normal)


def pair_up(features: MelConfig, model: Vocoder, sampler: Sampler, where: str) -> None:
    """Give ``sampler`` the features (:meth:`Sampler.use_features`); raise :class:`SpecError`
    when it cannot use them or cannot drive ``model`` (saying why)."""
    try:
        sampler.use_features(features)
    except ValueError as exc:
        raise SpecError(f"{where}: sampler {type(sampler).__name__} cannot be used with these "
                        f"features: {exc}") from None
    reason = sampler.model_incompatibility(model)
    if reason is not None:
        raise SpecError(f"{where}: sampler {type(sampler).__name__} cannot be used with model "
                        f"{type(model).__name__}: {reason}")


def build_sampler(
    components: Components, sampler: dict, where: str, registry: Registry | None = None
) -> Sampler:
    """Build another sampler for built ``components`` and record it in ``components.spec``.

    Args:
        components: a vocoder built by :func:`build_components`.
        sampler: the new sampler's ``{"class_path", "init_args"}``; its class must be
            registered.
        where: the source named in errors.
        registry: the registered classes (default: the process's registry).

    Raises:
        SpecError: an unregistered class, bad arguments, sizes beyond its limits, a step
            count other than the model's, or a sampler that cannot drive the model.
    """
    checked, classes = _checked({**components.spec, "sampler": sampler}, where, registry)
    parser, cfg = _parse(checked, where, ("sampler",))
    normal = _plain(cfg["sampler"])
    _check_sizes(classes["sampler"], "sampler", normal, where)
    check_shared_steps(components.spec["model"], normal, classes, where)
    sampler = _instantiate(parser, cfg, where).sampler
    pair_up(components.features, components.model, sampler, where)
    components.sampler = sampler
    components.spec = {**components.spec, "sampler": normal}
    return sampler

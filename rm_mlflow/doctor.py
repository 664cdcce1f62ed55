"""``rm-mlflow doctor``: a pre-flight check of a reward model and its setup, in seconds, before numbers are trusted.

What users most often report is not a missing feature but a number that moved: a second BOS token, a missing
or wrong chat template, a padding token that is also the end-of-sequence token, conversations silently cut,
scores that change with the batch (rewardbench issues #137, #164, #169, #226). Each check returns one
:class:`Finding` with a verdict: ``ok``, ``warning`` (worth knowing; numbers may differ from another setup) or
``defect`` (the numbers are not the model's: ``doctor`` exits non-zero).

The cheap checks read only the tokenizer, the config and a weightless copy of the model; ``evaluate`` runs them
on every run and records their verdicts as run tags. The others load the weights and score a small sample.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_mlflow._registry import Registry
from rm_mlflow.data.benchmark import LoadedBenchmark
from rm_mlflow.data.types import PreferenceExample
from rm_mlflow.scoring.settings import ScoringSettings

VERDICTS = ("ok", "warning", "defect")
SAMPLE_EXAMPLES = 16  # 16 pairs: 32 conversations for the kinds that score each answer
TOLERANCE = 1e-3  # largest score difference float32 arithmetic explains between batchings


@dataclass(frozen=True)
class Finding:
    """One line of the report: the check, its verdict and what it saw."""

    check: str
    verdict: str
    detail: str


@dataclass
class Patient:
    """What the checks look at: the model, its settings, the benchmarks' examples and a small sample of them."""

    model: str
    settings: ScoringSettings
    kind: str = "auto"
    benchmarks: Sequence[LoadedBenchmark] = ()
    sample: Sequence[PreferenceExample] = ()
    weightless: Any = None  # a weightless copy already built (evaluate's preview): the cheap checks use it as it is
    _loaded: dict = dataclasses.field(default_factory=dict)

    def tokenizer(self) -> Any:
        """The tokenizer as the model's loader reads it."""
        if self.weightless is not None:
            return self.weightless.tokenizer
        if "tokenizer" not in self._loaded:
            from rm_mlflow.scoring.hf import config_and_tokenizer

            self._loaded["config"], self._loaded["tokenizer"] = config_and_tokenizer(self.model, self.settings)
        return self._loaded["tokenizer"]

    def config(self) -> Any:
        """The model's config (None for kinds that hold several, such as DPO's policy and reference)."""
        if self.weightless is not None:
            return getattr(self.weightless, "config", None)
        self.tokenizer()
        return self._loaded["config"]

    def preview(self, **changes: Any) -> Any:
        """A weightless copy of the model (it tokenizes exactly as the loaded one), under ``changes`` to the settings."""
        if self.weightless is not None and not changes:
            return self.weightless
        from rm_mlflow.scoring.loaders import preview_reward_model

        key = ("preview", tuple(sorted(changes.items())))
        if key not in self._loaded:
            self._loaded[key] = preview_reward_model(self.model, dataclasses.replace(self.settings, **changes), kind=self.kind)
        return self._loaded[key]

    def scores(self, **changes) -> list[float]:
        """The sample's conversations (chosen then rejected of each example) scored by the loaded model under ``changes``."""
        from rm_mlflow.scoring.engine import score_conversations
        from rm_mlflow.scoring.loaders import load_reward_model

        load_changes = {key: value for key, value in changes.items() if key in ("dtype", "attn_implementation")}
        key = ("model", tuple(sorted(load_changes.items())))
        if key not in self._loaded:
            self._loaded[key] = load_reward_model(self.model, dataclasses.replace(self.settings, **load_changes), kind=self.kind)
        settings = dataclasses.replace(self.settings, shared_prefix="off", truncation="left", **changes)
        model = self._loaded[key]
        return list(score_conversations(model, units_of(model, self.sample), settings, progress=False).scores)


def units_of(model: Any, examples: Sequence[PreferenceExample]) -> list:
    """What ``model`` scores for ``examples``, in order: its own units (a response's conversation, a pairwise comparison, ...)."""
    return [unit for example in examples for unit in model.units(example)]


@dataclass(frozen=True)
class Check:
    """A named check; ``cheap`` ones need no weights and run on every evaluation."""

    name: str
    run: Callable[[Patient], Finding]
    cheap: bool


CHECKS: Registry[Check] = Registry("doctor check")
_ORDER: list[str] = []  # registration order: the template first, since the checks after it format conversations with it


def check(name: str, *, cheap: bool) -> Callable[[Callable[[Patient], Finding]], Callable[[Patient], Finding]]:
    """Register a check function under ``name``."""

    def register(function: Callable[[Patient], Finding]) -> Callable[[Patient], Finding]:
        CHECKS.add(name, Check(name, function, cheap))
        _ORDER.append(name)
        return function

    return register


@check("chat template", cheap=True)
def chat_template(patient: Patient) -> Finding:
    """The tokenizer has a chat template, or one is given (``--chat_template``)."""
    given = patient.settings.chat_template
    if given != "tokenizer":
        return Finding("chat template", "ok", f"--chat_template {given}")
    if not getattr(patient.tokenizer(), "chat_template", None):
        return Finding("chat template", "defect", "the tokenizer has no chat template: pass the one the model was trained with (--chat_template)")
    return Finding("chat template", "ok", "the tokenizer's own")


# Chat formats a model card shows by their turn markers; a card showing one the template does not render is a defect.
CARD_FORMATS: dict[str, tuple[str, ...]] = {
    "ChatML": ("<|im_start|>",),
    "Llama 3": ("<|start_header_id|>",),
    "Llama 2 / Mistral": ("[INST]",),
    "Gemma": ("<start_of_turn>",),
    "Tulu / Zephyr": ("<|user|>", "<|assistant|>"),
}
CARD_BYTES = 1_000_000  # a model card is read up to this many bytes
PROBE = ({"role": "user", "content": "Is the sky blue?"}, {"role": "assistant", "content": "Yes."})


def model_card_text(model: str, revision: str | None = None) -> str | None:
    """The model card (``README.md``) of a local folder or a Hub model; None when there is none or it cannot be fetched."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        card = folder / "README.md"
        return card.open(encoding="utf-8", errors="replace").read(CARD_BYTES) if card.is_file() else None
    if ":/" in model or model.startswith((".", "/", "~")):  # an MLflow or other URI: its folder is read where it is loaded
        return None
    try:
        from huggingface_hub import hf_hub_download

        with open(hf_hub_download(model, "README.md", revision=revision), encoding="utf-8", errors="replace") as card:
            return card.read(CARD_BYTES)
    except Exception:  # noqa: BLE001 - offline, gated or no card: nothing to compare with
        return None


@check("chat format", cheap=True)
def card_format(patient: Patient) -> Finding:
    """The template renders the turn markers of the chat format the model card shows (rewardbench issues #164, #226)."""
    card = model_card_text(patient.model, patient.settings.revision)
    shown = [name for name, markers in CARD_FORMATS.items() if card is not None and all(marker in card for marker in markers)]
    if not shown:
        return Finding("chat format", "ok", "no model card" if card is None else "the model card shows no known chat format to compare with")
    from rm_mlflow.scoring.templates import ChatFormatter

    rendered = ChatFormatter(patient.tokenizer(), patient.settings.chat_template).format(PROBE)
    if any(all(marker in rendered for marker in CARD_FORMATS[name]) for name in shown):
        return Finding("chat format", "ok", f"the template renders the {' or '.join(shown)} turns the model card shows")
    markers = ", ".join(marker for name in shown for marker in CARD_FORMATS[name])
    return Finding("chat format", "defect", f"the model card shows {' or '.join(shown)} turns ({markers}) but the template renders none: "
                   f"{rendered[:60]!r}; pass the template the model was trained with (--chat_template)")


@check("BOS token", cheap=True)
def doubled_bos(patient: Patient) -> Finding:
    """The template and the tokenizer do not both add a BOS token (rewardbench masks the first one; the model never saw two)."""
    preview = patient.preview() if patient.weightless is not None else patient.preview(truncation="left")
    if preview is None:
        return Finding("BOS token", "skipped", "this model kind has no weightless copy to tokenize with")
    tokenized = preview.tokenize(units_of(preview, patient.sample))
    doubled = sum(item.mask_first for item in tokenized)
    if doubled:
        first = list(tokenized[next(i for i, item in enumerate(tokenized) if item.mask_first)].input_ids[:4])
        return Finding("BOS token", "defect", f"{doubled} of {len(tokenized)} conversations start with two BOS tokens {first}: "
                       "the template writes one and the tokenizer adds another (or the template two)")
    return Finding("BOS token", "ok", f"one BOS at most in {len(tokenized)} conversations")


@check("padding", cheap=True)
def padding(patient: Patient) -> Finding:
    """The classifier finds each row's last token by the same pad id the batches are padded with, and that id is not EOS."""
    tokenizer, config = patient.tokenizer(), patient.config()
    pad, eos, model_pad = tokenizer.pad_token_id, tokenizer.eos_token_id, getattr(config, "pad_token_id", None)
    classifier = any(name.endswith("ForSequenceClassification") for name in getattr(config, "architectures", None) or [])
    if not classifier:
        return Finding("padding", "ok", f"pad id {pad}, EOS id {eos}; not a sequence classifier: no last-token lookup")
    if model_pad is not None and pad is not None and model_pad != pad:
        return Finding("padding", "warning", f"the config finds the last token by pad id {model_pad} but the tokenizer pads with {pad}: "
                       "rm-mlflow aligns them when it loads the model; a tool that does not reads a padded row at a pad position")
    if pad is not None and pad == eos:
        return Finding("padding", "defect", f"the pad token is the EOS token (id {pad}) and rows are padded on the right: a template that ends "
                       "with EOS is read one token early; give the tokenizer a distinct pad token")
    return Finding("padding", "ok", f"pad id {pad}, EOS id {eos}, right padding")


@check("length", cheap=True)
def length(patient: Patient) -> Finding:
    """``max_length`` against the model's position limit, and the share of the benchmarks' conversations it would cut."""
    preview = patient.preview(truncation="left")
    if preview is None:
        return Finding("length", "skipped", "this model kind has no weightless copy to tokenize with")
    positions, max_length = preview.max_positions(), patient.settings.max_length
    conversations = units_of(preview, [example for item in patient.benchmarks for example in item.examples if example.rejected])
    cut = sum(item.truncated for item in preview.tokenize(conversations)) if conversations else 0
    detail = f"max_length {max_length}, position limit {positions}; {cut:,} of {len(conversations):,} conversations longer"
    if positions is not None and max_length > positions:
        return Finding("length", "warning", f"{detail}; max_length is above what the model takes: {positions} is used")
    if cut and patient.settings.truncation == "none":
        return Finding("length", "defect", f"{detail}: the run would stop at the first; pass --truncation left or a larger --max_length")
    return Finding("length", "warning" if cut else "ok", detail + (f", cut on the {patient.settings.truncation}" if cut else ""))


def _flips(first: list[float], second: list[float]) -> int:
    """Pairs of units (a sample pair's two, in turn) ranked one way by ``first`` and the other by ``second``."""
    return sum((first[i] > first[i + 1]) != (second[i] > second[i + 1]) for i in range(0, len(first), 2))


@check("batch invariance", cheap=False)
def batch_invariance(patient: Patient) -> Finding:
    """The sample scored one conversation at a time and in the run's batches: the same scores."""
    alone, batched = patient.scores(batch_size=1), patient.scores()
    largest, flips = max(abs(a - b) for a, b in zip(alone, batched, strict=True)), _flips(alone, batched)
    detail = f"{len(alone)} conversations at batch size 1 and {patient.settings.batch_size}: largest difference {largest:.2e}, {flips} pair(s) flip"
    return Finding("batch invariance", "defect" if flips or largest > TOLERANCE else "ok", detail)


def _sensitivity(patient: Patient, check_name: str, setting: str, first: str, second: str) -> Finding:
    """The sample scored under two values of a setting that should barely matter: a warning when pairs flip."""
    one, other = patient.scores(**{setting: first}), patient.scores(**{setting: second})
    flips, largest = _flips(one, other), max(abs(a - b) for a, b in zip(one, other, strict=True))
    detail = f"{first} vs {second}: {flips} of {len(one) // 2} pairs flip, largest difference {largest:.2e}"
    return Finding(check_name, "warning" if flips else "ok", detail)


@check("dtype", cheap=False)
def dtype(patient: Patient) -> Finding:
    """float32 against bfloat16: pairs whose order flips."""
    return _sensitivity(patient, "dtype", "dtype", "float32", "bfloat16")


@check("attention", cheap=False)
def attention(patient: Patient) -> Finding:
    """The sdpa and eager attention implementations: pairs whose order flips."""
    return _sensitivity(patient, "attention", "attn_implementation", "sdpa", "eager")


EVERY_RUN = ("chat template", "chat format", "BOS token", "padding")  # what evaluate checks on each run (its lengths it checks itself)


def examine(patient: Patient, *, cheap_only: bool = False, only: Sequence[str] | None = None) -> list[Finding]:
    """Every check's finding (``only`` those named), in order; after a defect in the chat template the checks that need one are not run."""
    findings = []
    for name in _ORDER:
        entry = CHECKS.get(name)
        if (cheap_only and not entry.cheap) or (only is not None and name not in only):
            continue
        if findings and findings[0].check == "chat template" and findings[0].verdict == "defect":
            findings.append(Finding(name, "skipped", "needs a chat template"))
            continue
        findings.append(entry.run(patient))
    return findings


def sample_of(benchmarks: Sequence[LoadedBenchmark], size: int = SAMPLE_EXAMPLES) -> list[PreferenceExample]:
    """The first ``size`` pairs (one chosen, one rejected answer), taken round-robin across the benchmarks."""
    pools = [[example for example in item.examples if example.kind == "pairwise"] for item in benchmarks]
    sample: list[PreferenceExample] = []
    for index in range(max((len(pool) for pool in pools), default=0)):
        sample += [pool[index] for pool in pools if index < len(pool)]
        if len(sample) >= size:
            break
    return sample[:size]


def format_findings(findings: Sequence[Finding]) -> str:
    """The report: one aligned line per check, then the count of each verdict."""
    width = max(len(finding.check) for finding in findings)
    lines = [f"{finding.check:<{width}}  {finding.verdict.upper():<7}  {finding.detail}" for finding in findings]
    counts = {verdict: sum(finding.verdict == verdict for finding in findings) for verdict in (*VERDICTS, "skipped")}
    lines.append(", ".join(f"{count} {verdict}" for verdict, count in counts.items() if count))
    return "\n".join(lines)

"""``compare``: one example through both models, printed as text or as JSON (schema ``attnflow.compare/1``)."""

from __future__ import annotations

import argparse
import json
import sys

from attnflow_core.cli.common import add_device_argument, choices_help, float_in, int_at_least
from attnflow_core.encoding import UNITS
from attnflow_core.flows import SPECIAL_MODES
from attnflow_core.measures import MEASURES
from attnflow_core.methods import METHODS
from attnflow_core.models import EMBEDDED_BASE
from attnflow_core.saliency import SALIENCY_METHODS
from attnflow_core.settings import DEFAULTS, FlowSettings, parse_heads, parse_layers

PURPOSE = "compare a pre-trained model with its fine-tuned counterpart on one example"
EXAMPLE = (
    "python -m attnflow_core compare --tuned embedded:qa --text 'What is the capital of France?' "
    "--pair 'Paris is the capital of France.' --source what --layers 1:6"
)


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_device_argument(p)
    p.add_argument(
        "--base", default=EMBEDDED_BASE, help=f"pre-trained model: {EMBEDDED_BASE}, a folder or a Hub id"
    )
    p.add_argument(
        "--tuned", required=True, help="fine-tuned model: embedded:sentiment|qa|nli, a folder or a Hub id"
    )
    p.add_argument("--text", required=True, help="the sentence (the question, the premise)")
    p.add_argument("--pair", default=None, help="the second sentence (the answer sentence, the hypothesis)")
    p.add_argument(
        "--method",
        choices=METHODS.keys(),
        default=str(DEFAULTS.method),
        help=choices_help("flow method", METHODS),
    )
    p.add_argument("--layers", default=None, help="layer range A:B, 1-based, inclusive (default: all layers)")
    p.add_argument(
        "--heads", nargs="*", default=None, help="heads to use, e.g. 0 3 5 or 0,3,5 (default: all)"
    )
    p.add_argument(
        "--threshold", type=float_in(0.0, 1.0), default=DEFAULTS.threshold, help="trace threshold τ in [0, 1]"
    )
    p.add_argument(
        "--decay",
        type=float_in(0.0, 1.0, low_open=True),
        default=DEFAULTS.decay,
        help="trace decay α per layer in (0, 1]",
    )
    p.add_argument(
        "--source",
        default=str(DEFAULTS.source),
        help="the unit to trace from: its index (0 = [CLS]) or its text (the first match, case-insensitive)",
    )
    p.add_argument(
        "--special",
        choices=SPECIAL_MODES.keys(),
        default=str(DEFAULTS.special),
        help=choices_help("treatment of [CLS]/[SEP] attention", SPECIAL_MODES),
    )
    p.add_argument("--words", action="store_true", help="merge WordPieces into whole words")
    p.add_argument(
        "--measure",
        choices=MEASURES.keys(),
        default=str(DEFAULTS.measure),
        help=choices_help("attention measure", MEASURES),
    )
    p.add_argument(
        "--max-length",
        type=int_at_least(4),
        default=None,
        help="truncate the input to this many tokens (default: the model's limit)",
    )
    p.add_argument(
        "--labels",
        nargs="+",
        default=None,
        metavar="NAME",
        help="the fine-tuned model's class names in output order, for checkpoints that say only LABEL_k",
    )
    p.add_argument(
        "--saliency",
        choices=SALIENCY_METHODS.keys(),
        default=None,
        help=choices_help(
            "add per-unit saliency of the fine-tuned model's prediction (JSON key 'saliency')",
            SALIENCY_METHODS,
        ),
    )
    p.add_argument("--json", action="store_true", help="print JSON (schema attnflow.compare/1)")


def run(args: argparse.Namespace) -> int:
    from attnflow_core.analysis import analyse, find_source
    from attnflow_core.extract import extract
    from attnflow_core.models import load_pair
    from attnflow_core.report import to_dict, to_text

    unit = next(u for u in UNITS if u.grouped == bool(args.words))
    pair = load_pair(args.base, args.tuned, tuple(args.labels) if args.labels else None, device=args.device)
    result = extract(pair, args.text, args.pair, max_length=args.max_length)
    labels = result.encoding.units(unit)[0]
    source, note = find_source(labels, args.source)
    if note:
        print(note, file=sys.stderr)
    settings = FlowSettings(
        method=METHODS.get(args.method),
        source=source,
        threshold=args.threshold,
        layers=parse_layers(args.layers),
        heads=parse_heads(args.heads),
        decay=args.decay,
        special=SPECIAL_MODES.get(args.special),
        unit=unit,
        measure=MEASURES.get(args.measure),
    )
    analysis = analyse(result, settings)
    sal = None
    if args.saliency:
        from attnflow_core.saliency import result_saliency, saliency_dict

        one = result_saliency(pair.tuned, result, (args.saliency,), settings.unit)[args.saliency]
        sal = saliency_dict(one, pair.tuned.label_names or ())
    if args.json:
        json.dump({**to_dict(result, analysis), **({"saliency": sal} if sal else {})}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(to_text(result, analysis))
        if sal:
            pairs = ", ".join(f"{u} {v:+.3f}" for u, v in zip(analysis.labels, sal["scores"], strict=True))
            print(f"saliency ({sal['method']}, label {sal['label']}): {pairs}")
    return 0

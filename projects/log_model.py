"""MLproject entry point ``log_model``: log a Hugging Face reward model (folder or Hub id) as an rm_mlflow model, optionally registering it.

mlflow run . -e log_model -P model=./my-rm -P registered_model_name=my-rm
"""

from __future__ import annotations

import argparse
import sys

from projects._params import add_flag, optional


def main(argv: list[str] | None = None) -> int:
    """Log ``--model`` as an rm_mlflow model in a new run, registering it when asked."""
    import mlflow

    import rm_mlflow

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flag(parser, "model", required=True, help="local Hugging Face model folder or Hub id")
    add_flag(parser, "name", default="reward_model", help="the logged model's name in the run")
    add_flag(parser, "registered_model_name", default="", help="register a new version of this model")
    add_flag(parser, "chat_template", default="", help="scoring setting stored with the model")
    add_flag(parser, "max_length", default="", help="scoring setting stored with the model")
    add_flag(parser, "truncation", default="", help="scoring setting stored with the model")
    args = parser.parse_args(argv)
    settings = {
        key: value
        for key, value in {
            "chat_template": optional(args.chat_template),
            "max_length": optional(args.max_length, int),
            "truncation": optional(args.truncation),
        }.items()
        if value is not None
    }
    with mlflow.start_run():
        info = rm_mlflow.log_model(args.model, args.name, registered_model_name=optional(args.registered_model_name), settings=settings)
    print(f"logged {info.model_uri}" + (f" as {args.registered_model_name} v{info.registered_model_version}" if args.registered_model_name else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

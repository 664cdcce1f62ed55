"""Run the `rewardbench` CLI unchanged, except that its hard-coded ``.to("cuda")`` goes to the CPU when no GPU exists.

rewardbench's RewardBenchPipeline calls ``BatchEncoding.to("cuda")`` unconditionally. This wrapper
redirects that one call and nothing else; the scoring logic is the package's own.
"""

import sys

import torch
from transformers.tokenization_utils_base import BatchEncoding

if not torch.cuda.is_available():
    _original_to = BatchEncoding.to

    def _to(self, device, *args, **kwargs):
        if str(device).startswith("cuda"):
            device = "cpu"
        return _original_to(self, device, *args, **kwargs)

    BatchEncoding.to = _to

from rewardbench.rewardbench import main  # noqa: E402

if __name__ == "__main__":
    sys.argv = ["rewardbench", *sys.argv[1:]]
    main()

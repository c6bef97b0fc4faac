"""`humwatch evaluate-suite` (`make eval`): every detector, both generators, the same clips.

Synthetic part (`synthetic`): machines of both generators (`humwatch.research.generators`:
`synth`, the one the detectors were developed on, and `orders`, written independently) with
seeds never used while the detectors were designed (`plan.SEEDS`: synth 100-103, orders 200-203;
development used synth 0-23 and orders 0-99 / 900+), half fans, half pumps. Per machine and case
every model type is trained on the same normal clips with its own trainer
(`humwatch.detectors.train_bundle`, i.e. exactly `humwatch train`), then scored by
`humwatch.scoring.Scorer` (the serving path) on unseen normal clips and on all five faults.
The headline case is the issue's: SNR 0 dB, severity 0.5, 200 training clips.

Beside it, for the default detector only (the autoencoder trains for seconds per fit):
- few-shot: AUC with 10, 30, 100 and 300 training clips;
- leave one generator out (`transfer`): the configuration (`plan.CANDIDATE_CONFIGS`) with the
  best pooled AUC on one generator's development machines, scored on the other's held-out ones.

Real part (`real`, `../shared/data/real`, skipped when absent): DCASE 2020 id_00 cross-validated
and MIMII 0 dB leave-one-id-out, AUC and pAUC in the DCASE protocol (`metrics`).

Then the issue's targets, met or not (`targets`), including the alert-level one read from
`humwatch simulate-alerts` results (`alerts`); `report` writes eval.md, `run` runs it all in
`plan.workers` processes. Metrics come from `humwatch.research.evaluation`.
"""

from humwatch.research.eval_suite.plan import CANDIDATE_CONFIGS, SEEDS, GeneratorSeeds, SuitePlan, SynthCase
from humwatch.research.eval_suite.run import run_suite

__all__ = ["CANDIDATE_CONFIGS", "SEEDS", "GeneratorSeeds", "SuitePlan", "SynthCase", "run_suite"]

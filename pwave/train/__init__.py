"""Training: the LightningModules of the two stages, their shared machinery and commands.

* :mod:`pwave.train.teacher`: :class:`~pwave.train.teacher.TeacherModule` (maximum likelihood)
  and what both stage modules share (validation clips, checkpoint checks, ``load_teacher``).
* :mod:`pwave.train.student`: :class:`~pwave.train.student.StudentModule` (distillation).
* :mod:`pwave.train.flow_module`: the :class:`~pwave.train.flow_module.FlowTrainingModule`
  base class (Adam, schedule, EMA, gradient-norm logging, the non-finite guard), built from
  :mod:`pwave.train.defaults` (the one set of optimisation defaults),
  :mod:`pwave.train.schedule` (learning-rate schedule), :mod:`pwave.train.ema` (weight
  average) and :mod:`pwave.train.nonfinite` (gradient norm, non-finite guard).
* :mod:`pwave.train.datamodule`: the vocoder data module.
* :mod:`pwave.train.baseline`: the order-32 linear-prediction baseline.
* :mod:`pwave.train.media`: audio clips and mel images for TensorBoard.
* The commands: :mod:`pwave.train.cli` (``pwave train teacher|student``: config names,
  resume, run), :mod:`pwave.train.lightning_cli` (the LightningCLI subclass),
  :mod:`pwave.train.options` (pwave's own options), :mod:`pwave.train.run_folder` (the demo
  corpus of a run), :mod:`pwave.train.console` (what a run prints),
  :mod:`pwave.train.resume` and :mod:`pwave.train.random_state` (kill-safe checkpoints,
  exact resume).

Nothing is imported here, so ``import pwave.train.baseline`` (or ``pwave.train.options``)
does not pull in Lightning.
"""

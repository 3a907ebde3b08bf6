"""Training: the LightningModules of the two stages, their shared machinery and commands.

* :mod:`pwave.train.common`: bits per 16-bit sample, EMA, LR schedule, non-finite guard and
  the :class:`~pwave.train.common.FlowTrainingModule` base class.
* :mod:`pwave.train.teacher`: :class:`~pwave.train.teacher.TeacherModule` (maximum likelihood)
  and ``pwave train teacher``.
* :mod:`pwave.train.student`: :class:`~pwave.train.student.StudentModule` (distillation) and
  ``pwave train student``.
* :mod:`pwave.train.baseline`: the order-32 linear-prediction baseline.
* :mod:`pwave.train.cli`: the LightningCLI behind both commands.
* :mod:`pwave.train.media`: audio clips and mel images for TensorBoard.

Nothing is imported here, so ``import pwave.train.baseline`` does not pull in Lightning.
"""

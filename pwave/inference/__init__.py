"""Inference: the :class:`Vocoder` API, batch synthesis of files and likelihood scoring."""

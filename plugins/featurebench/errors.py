"""The project's exceptions: one root, so a caller can catch everything featurebench raises on purpose.

Each error keeps the built-in base it always had (ValueError, RuntimeError, AssertionError), so code that
caught those still works. Pydantic validators raise plain ValueError (pydantic requires it); the spec loader
turns them into SpecError naming the file and the field.
"""

from __future__ import annotations


class FeaturebenchError(Exception):
    """Root of every error featurebench raises on purpose; the message names the input at fault."""


class SpecError(FeaturebenchError, ValueError):
    """A spec file that cannot be used; the message names the file and the field."""


class ParamError(FeaturebenchError, ValueError):
    """A trigger-form value that cannot be used; raised by the first task, before anything is deployed."""


class RecipeError(FeaturebenchError, ValueError):
    """A manifest that cannot be rendered; the message names the template or the bad value."""


class TraceError(FeaturebenchError, RuntimeError):
    """A trace that cannot be used (unknown generator, bad params, a file that does not match its manifest)."""


class PlatformError(FeaturebenchError, RuntimeError):
    """A deployment, probe, load or teardown that failed; the message carries the reason."""


class LocalPlatformError(PlatformError):
    """A local engine or load run that failed; the message quotes the relevant log tail."""


class KubernetesError(PlatformError):
    """A deployment, probe or load that failed; the message carries the reason, events and log lines."""


class ForeignObjectError(KubernetesError):
    """An object with our name exists but belongs to another run (or to nobody we know)."""


class RegressionError(FeaturebenchError, AssertionError):
    """Raised by the regression_check task: the message says what regressed, by how much and since when."""

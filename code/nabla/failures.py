r"""Showing a check fail: how a chapter demonstrates a wrong derivation or a refused input.

A chapter that shows a *wrong* derivation runs one of :mod:`nabla.gradcheck`'s checks on it
through :func:`show_failure`, which prints the report a reader should see and asserts which
inputs it blames (and how many entries), so the page cannot pass by failing for another
reason; :func:`show_error` does the same for any other error a chapter demonstrates (a
ShapeError of the engine, a refused argument).
"""

from __future__ import annotations

import inspect

from nabla.gradcheck import GradientCheckError


def input_names(f, count):
    """The names of ``f``'s first ``count`` positional parameters, by which a chapter calls its inputs."""
    try:
        parameters = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature
        parameters = []
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < count:
        raise ValueError(
            f"show_failure: the inputs are named after the parameters of the function under test, but it "
            f"has {len(positional)} positional parameters for {count} inputs; write it as a lambda that "
            "names each input (lambda X, Y: ...)"
        )
    return positional[:count]


def show_failure(check, f, *args, wrong, entries=None, **options):
    r"""Run a gradient check that must fail, print its report, and assert whom it blames.

    ``check(f, *args, **options)`` is one of :mod:`nabla.gradcheck`'s checks (:func:`check_backward`,
    :func:`check_against_torch`, :func:`check_gradients`, :func:`check_derivation`) run on a
    wrong derivation. The inputs are named after ``f``'s parameters (``lambda X, Y: ...`` names
    them X and Y). ``wrong`` is the name, or the collection of names, of the inputs whose
    gradients must be reported wrong: exactly those, so every other input must pass.
    ``entries``, if given, is how many elements must be wrong: a number for the total over all
    inputs, or a dict from name to number.

    Prints the report as a reader should see it (the check's message: no traceback, no path)
    and returns the GradientCheckError, whose ``verdicts`` a chapter may assert more about.
    Raises AssertionError if the check passes or blames other inputs or another number of
    elements; any other error (a NameError, a ShapeError, a report about forward values) is
    not caught, or raised again, so a chapter that shows a wrong derivation cannot pass by
    failing for the wrong reason.
    """
    wrong = {wrong} if isinstance(wrong, str) else set(wrong)
    check_name = getattr(check, "__name__", repr(check))
    try:
        check(f, *args, **options)
    except GradientCheckError as caught:
        error = caught
    else:
        raise AssertionError(f"{check_name} was expected to find the gradient of {sorted(wrong)} wrong, but it passed")
    if error.verdicts is None:
        raise AssertionError(f"{check_name} failed, but not on the inputs' gradients:\n{error}") from error
    names = input_names(f, len(error.verdicts))
    unknown = (wrong | set(entries if isinstance(entries, dict) else ())) - set(names)
    if unknown:
        raise ValueError(f"show_failure: no input is named {sorted(unknown)}; the inputs are {names}")
    blamed = {name for name, verdict in zip(names, error.verdicts) if not verdict.ok}
    if blamed != wrong:
        raise AssertionError(
            f"{check_name} was expected to find {sorted(wrong)} wrong and the other inputs right, "
            f"but it found {sorted(blamed)} wrong:\n{error}"
        )
    counts = {name: verdict.wrong_entries for name, verdict in zip(names, error.verdicts)}
    if isinstance(entries, dict):
        found = {name: counts[name] for name in entries}
        if found != entries:
            raise AssertionError(f"expected {entries} wrong elements, found {found}:\n{error}")
    elif entries is not None and sum(counts.values()) != entries:
        raise AssertionError(f"expected {entries} wrong elements in all, found {sum(counts.values())} ({counts}):\n{error}")
    print(error)
    return error


def show_error(error_type, f, *args, match, **kwargs):
    """Call ``f(*args, **kwargs)``, which must raise ``error_type`` with ``match`` in its message; print the message.

    ``match`` is a string, or a list of strings, each of which the message must contain. For the
    errors a chapter demonstrates that are not gradient checks: a ShapeError of the engine, a
    refused argument. Returns the message. Raises AssertionError if nothing is raised or the
    message lacks a ``match``; an error of another type is not caught.
    """
    try:
        f(*args, **kwargs)
    except error_type as error:
        message = str(error)
    else:
        raise AssertionError(f"expected a {error_type.__name__}, but nothing was raised")
    missing = [m for m in ([match] if isinstance(match, str) else match) if m not in message]
    if missing:
        raise AssertionError(f"the {error_type.__name__} says:\n{message}\nwhich lacks {missing}")
    print(message)
    return message

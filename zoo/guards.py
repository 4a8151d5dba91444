"""Input checks inside exported signatures, so TF Serving refuses bad rows as zoo serve does.

A serving function passes a tensor through `check_rows(tensor, ok, "Input 'history'
row {} ...")` with one boolean per row; a false row stops the call with an
InvalidArgumentError whose message names the first such row (400 / INVALID_ARGUMENT
from either server). The tensor comes back gated on the check, so nothing computed
from it runs first and fails in a less readable way. `readable` turns TensorFlow's
"assertion failed: [...]" text, graph context included, into that one line.
"""

import re

import tensorflow as tf

ASSERTION = re.compile(r"assertion failed: \[(.*?)\](?:\n|$)", re.S)
CONTEXT_LINES = ("Graph execution error", "Detected at node", "<stack traces", "\t [[")


def check_rows(tensor, row_ok, message):
    """`tensor`, once every entry of `row_ok` (bool [batch]) holds; `message` has one `{}`,
    filled with the first failing row."""
    failing = tf.where(tf.logical_not(row_ok))[:, 0]
    first = tf.concat([failing, [-1]], axis=0)[0]
    return check(tensor, tf.size(failing) == 0, tf.strings.format(message, first))


def check(tensor, condition, message):
    """`tensor`, once the scalar `condition` holds; else the call stops with `message`."""
    with tf.control_dependencies([tf.debugging.Assert(condition, [message])]):
        return tf.identity(tensor)


OP_CONTEXT = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]")  # an eager op's name around its text


def readable(error_message):
    """The first assertion's own text without TensorFlow's graph context; else the first line
    that is not context, without an eager op's `{{function_node ...}}` and `[Op:...]`."""
    match = ASSERTION.search(error_message)
    if match:
        # tf.debugging.assert_* append their operands: "...] [Condition x == y did not hold ...] [x ...".
        return match.group(1).split("] [Condition ", 1)[0].replace("\\'", "'")
    lines = [line for line in error_message.splitlines() if line.strip() and not line.startswith(CONTEXT_LINES)]
    return OP_CONTEXT.sub("", lines[0] if lines else error_message)

"""tasks.ctc_speech.ctc: transcripts as labels, the CTC loss over padded frames, its metric, decoding, error rates."""

import numpy as np
import pytest
import tensorflow as tf

from tasks.ctc_speech import ctc

DIGITS = "0123456789"

# ------------------------------------------------------------------------ text


def test_transcripts_drop_spaces_and_name_unknown_characters():
    np.testing.assert_array_equal(ctc.encode_text(" 1 2 0", DIGITS, "x"), [1, 2, 0])
    with pytest.raises(ValueError, match=r"train.csv, row 3: transcript '12a4' has 'a', not in the alphabet '0123456789'"):
        ctc.encode_text("12a4", DIGITS, "train.csv, row 3")
    np.testing.assert_array_equal(ctc.encode_text("ab ba", "ab ", "x"), [0, 1, 2, 1, 0])
    assert ctc.decode_labels([1, 2, 0, -1, -1], DIGITS) == "120"
    with pytest.raises(ValueError, match=r"--alphabet 'aa': needs one or more distinct characters"):
        ctc.check_alphabet("aa")


def test_min_frames_counts_a_blank_between_repeats():
    assert ctc.min_frames([1, 2, 3]) == 3
    assert ctc.min_frames([1, 1, 1, 2, 2]) == 8
    assert ctc.min_frames([]) == 0


# ---------------------------------------------------------------- error rates


def test_error_rates_on_constructed_cases():
    assert ctc.edit_distances(["123", ""], ["13", "42"]).tolist() == [1, 2]
    result = ctc.error_rates(["123", "45", "6"], ["13", "45", "68"])
    assert result == {"cer": pytest.approx(2 / 6), "wer": pytest.approx(2 / 6), "exact_match": pytest.approx(1 / 3)}
    words = ctc.error_rates(["ab ba", "a"], ["ab bb", "a"], alphabet="ab ")
    assert words["wer"] == pytest.approx(1 / 3) and words["cer"] == pytest.approx(1 / 6)


def test_edit_distances_substitute_insert_and_delete():
    references = ["kitten", "", "abc", "abc", "", "flaw"]
    hypotheses = ["sitting", "", "", "abc", "xy", "lawn"]
    assert ctc.edit_distances(references, hypotheses).tolist() == [3, 0, 3, 0, 2, 2]
    # Word sequences: each word is one item.
    assert ctc.edit_distances([["one", "two", "three"]], [["one", "three", "four"]]).tolist() == [2]
    assert ctc.edit_distances([], []).tolist() == []
    assert ctc.error_rates([], []) == {"cer": 0.0, "wer": 0.0, "exact_match": 0.0}


# ---------------------------------------------------------------- CTC pieces


def one_hot_logits(frames, classes=11):
    """Logits whose argmax follows `frames` (symbol indices; 10 is blank)."""
    return tf.constant(np.eye(classes, dtype="float32")[frames][None] * 10.0)


@pytest.mark.parametrize("beam_width", [1, 8])
def test_ctc_decoding_collapses_repeats_and_drops_blanks(beam_width):
    logits = one_hot_logits([10, 1, 1, 10, 1, 2, 2, 10, 0, 10, 7, 7])
    text = ctc.ctc_decode(logits, tf.constant([10]), DIGITS, beam_width)  # last 2 frames cut
    assert text.numpy().tolist() == [b"1120"]


def test_padded_frames_are_blank_so_ctc_sees_the_true_length():
    logits = tf.random.stateless_normal([2, 9, 11], seed=[1, 2])
    mask = tf.sequence_mask([9, 5], 9)
    padded = ctc.PadAsBlank()(logits, mask=mask)
    labels = tf.constant([[3, 3, 1], [0, 4, -1]])
    loss = ctc.CTCLoss(reduction=None)(labels, padded)
    expected = tf.nn.ctc_loss(
        tf.constant([[3, 3, 1], [0, 4, 0]]), logits, label_length=tf.constant([3, 2]),
        logit_length=tf.constant([9, 5]), logits_time_major=False, blank_index=-1,
    )
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    # An empty transcript (noise alone) costs the all-blank path over the valid frames.
    empty = ctc.CTCLoss(reduction=None)(tf.constant([[-1, -1, -1], [0, 4, -1]]), padded)
    all_blank = -tf.reduce_sum(tf.nn.log_softmax(logits[0])[:, -1])
    np.testing.assert_allclose(empty.numpy(), [all_blank.numpy(), expected[1].numpy()], rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        padded_logits = ctc.PadAsBlank()(logits, mask=mask)
        total = tf.reduce_sum(ctc.CTCLoss(reduction=None)(tf.constant([[-1], [-1]]), padded_logits))
    assert np.isfinite(tape.gradient(total, logits).numpy()).all()
    metric = ctc.GreedyErrorRate()
    decoded_120 = np.repeat(one_hot_logits([1, 10, 2, 10, 0, 10]).numpy(), 2, axis=0)
    metric.update_state(tf.constant([[1, 2, 0], [0, -1, -1]]), decoded_120)
    assert float(metric.result()) == pytest.approx(2 / 4)  # "120" vs "120": 0 errors, vs "0": 2


def test_sparse_labels_keep_symbol_zero_and_drop_padding():
    sparse = ctc.sparse_labels(tf.constant([[0, 3, -1], [-1, -1, -1], [2, 0, 0]]))
    assert sparse.indices.numpy().tolist() == [[0, 0], [0, 1], [2, 0], [2, 1], [2, 2]]
    assert sparse.values.numpy().tolist() == [0, 3, 2, 0, 0]
    assert sparse.dense_shape.numpy().tolist() == [3, 3]

from moneypath.pan import REDACTED, contains_card_number, is_card_number, redact_card_numbers


def test_luhn_valid_numbers_in_any_grouping_are_card_numbers():
    assert is_card_number("4111111111111111")
    assert is_card_number("4111 1111 1111 1111")
    assert is_card_number("4111-1111-1111-1111")
    assert is_card_number("378282246310005")  # 15-digit Amex


def test_non_luhn_and_wrong_lengths_are_not():
    assert not is_card_number("4111111111111112")
    assert not is_card_number("411111111111")  # 12 digits
    assert not is_card_number("acme")
    assert not is_card_number("12345678901234567890")  # 20 digits


def test_redaction_replaces_only_card_numbers_and_keeps_the_rest():
    text = "order 12345 paid with 4111 1111 1111 1111, ts 1700000000123"
    out = redact_card_numbers(text)
    assert "4111" not in out and REDACTED in out
    assert "order 12345" in out and "1700000000123" in out
    assert contains_card_number("id-4111111111111111-x")
    assert not contains_card_number("trace 0af7651916cd43dd8448eb211c80319c")

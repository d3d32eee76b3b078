from moneypath.pan import REDACTED, contains_card_number, is_card_number, redact_card_numbers


def test_luhn_valid_numbers_in_any_grouping_are_card_numbers():
    for text in ("4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111.1111.1111",
                 "378282246310005"):
        assert is_card_number(text), text


def test_non_luhn_and_wrong_lengths_are_not():
    for text in ("4111111111111112", "411111111111", "acme", "12345678901234567890", "card 4111111111111111"):
        assert not is_card_number(text), text


def test_a_card_inside_a_longer_digit_run_is_still_found():
    # expiry after the card, an amount before it, a CVV glued on
    for text in ("card 4111 1111 1111 1111 12/27", "amount 100 4111111111111111", "4111-1111-1111-1111-99",
                 "id-4111111111111111-x", "4111_1111_1111_1111", "ref:4111:1111:1111:1111"):
        assert contains_card_number(text), text
        assert "4111" not in redact_card_numbers(text) and REDACTED in redact_card_numbers(text), text


def test_redaction_keeps_ordinary_numbers():
    text = "order 12345 paid, ts 1700000000123, trace 0af7651916cd43dd8448eb211c80319c"
    assert redact_card_numbers(text) == text
    assert not contains_card_number(text)

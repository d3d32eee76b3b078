from moneypath.catalog.pan import REDACTED, contains_card_number, is_card_number, mentions_card_number, redact_card_numbers


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


def test_input_validation_refuses_standalone_card_numbers_not_digits_inside_ids():
    for text in ("4111111111111111", "order 4111-1111-1111-1111", "card:5555 5555 5555 4444.", "378282246310005"):
        assert mentions_card_number(text), text
    for text in ("order-9", "4111111111111112", "x-ab4111111111111111", "41111111111111110000",
                 "ts-1700000000000", "order-1234567890123"):
        assert not mentions_card_number(text), text


def test_input_validation_sees_through_any_separator_and_script_but_not_order_numbers():
    for text in ("4111/1111/1111/1111", "4111,1111,1111,1111", "4111  1111  1111  1111", "4111 / 1111 / 1111 / 1111",
                 "\uff14" + "\uff11" * 15, "\u0664" + "\u0661" * 15, "3782/822463/10005",
                 "card 4111 1111 1111 1111 12/27"):
        assert mentions_card_number(text), text
    # Other separators count only for groups printed like a card: order numbers and dates stay references.
    for text in ("INV/2024/000123", "order 412345/678901, 2345", "2024/11/23 4111/1111", "order 12345, 67890",
                 "po-4111/1111/1111/1112", "ab4111/1111/1111/1111"):
        assert not mentions_card_number(text), text

# ruff: noqa: RUF001 - full-width characters are the input under test
import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts.emails import InvalidEmail, _fast_path, normalise_email


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Taro.Yamada@Example.CO.JP", "Taro.Yamada@example.co.jp"),
        ("  taro@example.jp  ", "taro@example.jp"),
        ("taro@例え.jp", "taro@xn--r8jz45g.jp"),
        ("taro@XN--R8JZ45G.JP", "taro@xn--r8jz45g.jp"),
        ("hanako@ＥＸＡＭＰＬＥ.jp", "hanako@example.jp"),
        ("ä@bücher.de", "ä@xn--bcher-kva.de"),
    ],
)
def test_normalise_email_stores_the_normalised_form(raw, stored):
    assert normalise_email(raw).address == stored


@pytest.mark.parametrize(
    "raw", ["taro..yamada@docomo.ne.jp", "taro.@ezweb.ne.jp", "taro..yamada.@DoCoMo.ne.jp"]
)
def test_normalise_email_accepts_old_japanese_mobile_addresses_with_a_warning(raw):
    result = normalise_email(raw)
    local, domain = raw.rsplit("@", 1)
    assert result.address == f"{local}@{domain.lower()}"
    assert "Old Japanese mobile address" in result.warning


def test_normalise_email_converts_full_width_characters_with_a_warning():
    result = normalise_email("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ")
    assert result.address == "taro@example.jp"
    assert "Full-width" in result.warning


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "taro",
        "taro@",
        "@example.jp",
        "taro@example",
        ".taro@docomo.ne.jp",
        "taro@exa..mple.jp",
        "Taro <taro@example.jp>",
        "taro@example.test",
        "taro@localhost",
        "<script>@example.jp",
    ],
)
def test_normalise_email_refuses_invalid_addresses(raw):
    with pytest.raises(InvalidEmail):
        normalise_email(raw)


_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
_local = st.text(alphabet=_ATEXT + ".", min_size=1, max_size=70)
_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCZ0123456789-", min_size=1, max_size=64)
_tld = st.sampled_from(["jp", "com", "CO", "test", "local", "example", "xn--r8jz45g", "j", "c0m"])


@settings(max_examples=1500, deadline=None)
@given(local=_local, labels=st.lists(_label, min_size=1, max_size=3), tld=_tld)
def test_fast_path_agrees_with_email_validator(local, labels, tld):
    # The fast path is an optimisation only: whenever it answers, email-validator must
    # accept the address and normalise it to the same stored form.
    address = f"{local}@{'.'.join([*labels, tld])}"
    fast = _fast_path(address)
    if fast is None:
        return
    try:
        info = validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        pytest.fail(f"fast path accepted {address!r}, email-validator refused: {error}")
    assert fast == f"{info.local_part}@{info.ascii_domain.lower()}"

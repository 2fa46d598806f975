import codecs

import pytest

from contacts import csvfiles
from contacts.csvfiles import CSVFileError, detect_encoding, records, sniff_delimiter, text_stream

# NEC special characters (row 13) and IBM extensions: in CP932, not in Shift_JIS.
NEC_IBM = "①②㈱№≒∵ⅰⅱ髙﨑德"


def test_cp932_with_nec_and_ibm_extension_characters_is_detected_and_decoded():
    data = f"メールアドレス,会社名\r\ntaro@example.jp,{NEC_IBM}\r\n".encode("cp932")
    with pytest.raises(UnicodeDecodeError):
        data.decode("shift_jis")
    assert detect_encoding(data) == "cp932"
    rows = [r.cells for r in records(text_stream(data, "cp932"), ",")]
    assert rows == [["メールアドレス", "会社名"], ["taro@example.jp", NEC_IBM]]


def test_utf8_with_bom_is_detected_and_the_bom_is_not_part_of_the_first_header():
    data = codecs.BOM_UTF8 + "メールアドレス,氏名\ntaro@example.jp,山田\n".encode()
    assert detect_encoding(data) == "utf-8-sig"
    first = next(records(text_stream(data, "utf-8-sig"), ","))
    assert first.cells == ["メールアドレス", "氏名"]


def test_plain_utf8_and_utf16_are_detected():
    assert detect_encoding(b"email\ntaro@example.jp\n") == "utf-8"
    data = "メール\tお名前\r\ntaro@example.jp\t山田\r\n".encode("utf-16")
    assert detect_encoding(data) == "utf-16"


def test_euc_jp_is_not_mistaken_for_cp932():
    text = "メールアドレス,氏名,会社名\n" + "".join(
        f"user{i}@example.jp,山田太郎,株式会社たよりの会社です\n" for i in range(30)
    )
    data = text.encode("euc_jp")
    encoding = detect_encoding(data)
    assert data.decode(encoding) == text


def test_undecodable_bytes_are_refused():
    with pytest.raises(CSVFileError):
        detect_encoding(b"\x81\xff\xfe\x00\x80" * 3 + bytes(range(128, 256)) * 20)


def test_records_carry_the_physical_line_where_they_start():
    text = (
        "email,note\r\n"
        'a@example.jp,"first\r\nsecond\r\nthird"\r\n'
        "\r\n"
        "\r\n"
        'b@example.jp,"comma, inside"\r\n'
        ",,\r\n"
        'c@example.jp,"quote "" inside"\r\n'
    )
    found = [(r.line, r.cells) for r in records(text_stream(text.encode(), "utf-8"), ",")]
    assert found == [
        (1, ["email", "note"]),
        (2, ["a@example.jp", "first\r\nsecond\r\nthird"]),
        (7, ["b@example.jp", "comma, inside"]),
        (9, ["c@example.jp", 'quote " inside']),
    ]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("email,name\na@example.jp,A\n", ","),
        ("email\tname\na@example.jp\tA, B\n", "\t"),
        ("email;name;company\na@example.jp;A;B\n", ";"),
    ],
)
def test_sniff_delimiter(text, delimiter):
    assert sniff_delimiter(text) == delimiter


def test_guess_mapping_reads_japanese_and_english_headers():
    columns = ["Eメール", "姓", "名", "会社名", "電話番号", "ステータス", "タグ", "誕生日", "memo"]
    mapping = csvfiles.guess_mapping(columns, [], [("birthday", "誕生日")])
    assert mapping == {
        "0": "email",
        "1": "last_name",
        "2": "first_name",
        "3": "company",
        "4": "phone",
        "5": "status",
        "6": "tags",
        "7": "attr:birthday",
        "8": "",
    }
    assert csvfiles.guess_mapping(["E-mail Address", "Full Name", "Company"], [], []) == {
        "0": "email",
        "1": "full_name",
        "2": "company",
    }
    assert csvfiles.guess_mapping(["メールアドレス", "氏名"], [], [])["1"] == "full_name"


def test_guess_mapping_finds_the_address_column_by_its_values():
    mapping = csvfiles.guess_mapping(
        ["連絡先", "備考"], [["taro@example.jp", "x"], ["hanako@example.jp", "y"]], []
    )
    assert mapping == {"0": "email", "1": ""}


def test_a_preview_of_a_files_head_tolerates_a_character_cut_in_two():
    data = "email,name\r\na@example.jp,髙橋\r\n".encode("cp932")[:-3]  # half of 橋
    with pytest.raises(UnicodeDecodeError):
        csvfiles.read_header_and_sample(data, "cp932", ",")
    first, rows = csvfiles.read_header_and_sample(data, "cp932", ",", truncated=True)
    assert (first.cells, [r.cells for r in rows]) == (["email", "name"], [["a@example.jp", "髙"]])

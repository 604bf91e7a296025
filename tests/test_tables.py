"""Chapter tables: what they show for the rows they are given."""

from rdvae.tables import html_table


def test_a_table_formats_ints_and_floats_and_says_so_when_it_has_no_rows():
    table = html_table([{"N_train": 16384, "D": 61.234}], digits=1).data
    assert "<th>N_train</th><th>D</th>" in table and "<td>16,384</td><td>61.2</td>" in table
    empty = html_table([]).data
    assert "<table" not in empty and "Nothing to tabulate" in empty

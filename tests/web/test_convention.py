"""The upload naming convention: order, copies, priority and due date from folder, name and userdata."""

from __future__ import annotations

import pytest

from farmctl.errors import UserError
from farmctl.web.convention import UploadOptions, read_options


@pytest.mark.parametrize(
    ("folder", "name", "userdata", "expected"),
    [
        ("", "housing.gcode", None, UploadOptions(job_name="housing.gcode")),
        ("o3", "housing.gcode", None, UploadOptions(job_name="housing.gcode", order="o3")),
        ("/O3/", "housing.gcode", None, UploadOptions(job_name="housing.gcode", order="o3")),
        ("", "o3/housing.gcode", None, UploadOptions(job_name="housing.gcode", order="o3")),
        ("", "housing [o3 x4 high].gcode",
         None, UploadOptions(job_name="housing.gcode", order="o3", copies=4, priority="high")),
        ("", "housing_[4x,urgent]_PLA.gcode",
         None, UploadOptions(job_name="housing_PLA.gcode", copies=4, priority="urgent")),
        ("o3/[x2]", "lid.gcode", None, UploadOptions(job_name="lid.gcode", order="o3", copies=2)),
        ("", "lid [copies=3 priority=20 due=+3d order=7].gcode", None,
         UploadOptions(job_name="lid.gcode", order="o7", copies=3, priority="20", due="+3d")),
        ("", "lid.gcode", '{"farmctl": {"order": "o5", "copies": 2, "priority": "low", "due": "2030-01-01"}}',
         UploadOptions(job_name="lid.gcode", order="o5", copies=2, priority="low", due="2030-01-01")),
        ("", "lid.gcode", '{"other-plugin": {"x": 1}}', UploadOptions(job_name="lid.gcode")),
        ("", "lid.gcode", "not json at all", UploadOptions(job_name="lid.gcode")),
        ("o5", "lid [o5].gcode", '{"farmctl": {"order": "o5"}}',
         UploadOptions(job_name="lid.gcode", order="o5")),
        # One order written three ways is one order, as farmctl.ids writes it: no "given twice".
        ("O05", "lid [o5].gcode", '{"farmctl": {"order": 5}}',
         UploadOptions(job_name="lid.gcode", order="o5")),
    ],
)
def test_options_are_read_from_folder_name_and_userdata(
    folder: str, name: str, userdata: str | None, expected: UploadOptions
) -> None:
    assert read_options(folder, name, userdata) == expected


@pytest.mark.parametrize(
    ("folder", "name", "userdata", "message"),
    [
        ("housings", "lid.gcode", None, "the folder 'housings' is neither an order id"),
        ("", "lid [x0].gcode", None, "copies must be a whole number of at least 1"),
        ("", "lid [fast].gcode", None, "'fast' in the file name 'lid [fast].gcode' is not an upload option"),
        ("", "lid [colour=red].gcode", None, "'colour=red' in the file name"),
        ("o3", "lid [o4].gcode", None, "the upload gives order twice (o3 and o4"),
        ("", "lid [x2].gcode", '{"farmctl": {"copies": 3}}', "the upload gives copies twice (2 and 3"),
        ("", "lid.gcode", '{"farmctl": {"colour": "red"}}', 'userdata "farmctl" has an unknown key "colour"'),
        ("", "lid.gcode", '{"farmctl": [1, 2]}', 'userdata "farmctl" must be an object'),
        ("", "lid.gcode", '{"farmctl": {"order": "customer-3"}}', "an order id looks like o3"),
        ("", "", None, "the upload has no file name"),
    ],
)
def test_a_wrong_option_is_refused_in_one_line(
    folder: str, name: str, userdata: str | None, message: str
) -> None:
    with pytest.raises(UserError) as caught:
        read_options(folder, name, userdata)
    assert message in caught.value.message
    assert "\n" not in caught.value.message

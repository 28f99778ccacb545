"""The Excel add-in (smmsheet.xlam): built reproducibly from xlwings' own ribbon template.

``build_addin`` starts from ``quickstart_addin_ribbon.xlam`` shipped inside the installed
xlwings package (BSD licensed), so the add-in's VBA always matches the installed xlwings
(its DLL names carry the version), and changes only what makes it smmsheet's:

- ``customUI/customUI.xml``: a ribbon tab "smmsheet" with the buttons of
  :data:`BUTTONS`, each ``onAction="RibbonSmmsheet.<Callback>"``;
- the VBA module ``RibbonMyAddin`` becomes ``RibbonSmmsheet``: one
  ``Sub <Callback>(control As IRibbonControl)`` per button, each calling
  ``RunPython "import smmsheet.excel; smmsheet.excel.<macro>()"``;
- a VBA module ``xlwings_udfs`` declaring the SMM_* formulas, as xlwings' "Import
  Functions" would write it (so the formulas work without that step);
- in xlwings' own VBA module ``PROJECT_NAME`` changes (``myaddin`` -> ``smmsheet``), as
  xlwings documents for renaming a custom add-in, and its config lookup skips the active
  workbook's ``smmsheet.conf`` sheet and a ``smmsheet.conf`` file beside it (a workbook
  must not choose the program Excel runs); everything else (RunPython, the DLL
  declarations) is kept byte for byte;
- the add-in's config sheet becomes ``smmsheet.conf`` with one, non-secret setting
  (``UDF Modules = smmsheet.udf``); the author's name and folder leave the file.

The zip is rewritten with fixed timestamps and member order, so building twice gives
identical bytes. VBA editing uses pyopenvba, imported only when building.

Example::

    smmsheet addin build --out workbook_templates/smmsheet.xlam
    smmsheet addin install          # builds and copies into Excel's XLSTART folder
"""

from __future__ import annotations

import io
import os
import re
import struct
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "ADDIN_NAME",
    "BUTTONS",
    "Button",
    "Check",
    "addin_dir",
    "build_addin",
    "doctor",
    "install_addin",
    "ribbon_vba",
    "ribbon_xml",
    "udf_module_vba",
]

ADDIN_NAME = "smmsheet.xlam"
#: The add-in's name for xlwings' config lookup (``smmsheet.conf`` sheet or file).
PROJECT_NAME = "smmsheet"
TEMPLATE_NAME = "quickstart_addin_ribbon.xlam"
TEMPLATE_RIBBON_MODULE = "RibbonMyAddin"
RIBBON_MODULE = "RibbonSmmsheet"
UDF_VBA_MODULE = "xlwings_udfs"
UDF_PYTHON_MODULE = "smmsheet.udf"
CONFIG_SHEET = f"{PROJECT_NAME}.conf"
UDF_MODULES_KEY = "UDF Modules"
ADD_WORKBOOK_KEY = "ADD_WORKBOOK_TO_PYTHONPATH"
#: Every zip member gets this date, so builds are byte-identical.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
CUSTOM_UI_NS = "http://schemas.microsoft.com/office/2006/01/customui"
#: The relationship that goes with CUSTOM_UI_NS (the template has Office 2010's, which is for
#: the 2009/07 customUI14 schema: the Open XML SDK cannot load the part under it).
CUSTOM_UI_REL = "http://schemas.microsoft.com/office/2006/relationships/ui/extensibility"
CUSTOM_UI14_REL = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
PYOPENVBA_HINT = "pip install 'smmsheet[excel]' (or: pip install 'pyopenvba>=6.5,<7')"
#: What a formula shows in Excel for Mac, where xlwings runs no formulas.
MAC_FORMULA_TEXT = "#SMM: formulas need Excel for Windows; on a Mac use Refresh status"
#: The VBA module that gives the formulas their Function Wizard help.
HELP_VBA_MODULE = "SmmsheetHelp"
HELP_SUB = "RegisterSmmsheetFunctions"
#: The config sheet's keys (xlwings reads them case-insensitively).
INTERPRETER_KEYS = {"win32": "Interpreter_Win", "darwin": "Interpreter_Mac"}
#: Where xlwings' RunPython looks for its AppleScript on macOS (`xlwings runpython install`).
MAC_SCRIPTS_DIR = "Library/Application Scripts/com.microsoft.Excel"


@dataclass(frozen=True)
class Button:
    """One ribbon button: what it shows and which macro of smmsheet.excel it runs."""

    group: str
    label: str
    callback: str
    macro: str
    image: str
    tip: str


#: The ribbon, left to right. ``image`` is a built-in Office icon (imageMso).
BUTTONS: tuple[Button, ...] = (
    Button("Orders", "Place orders", "PlaceOrders", "place_orders", "MacroPlay",
           "Place every row without an Order ID (asks first, shows the cost)"),
    Button("Orders", "Refresh status", "RefreshStatus", "refresh_status", "Refresh",
           "Update status, charge and remains of open orders"),
    Button("Orders", "Cancel", "CancelOrders", "cancel_orders", "Cancel",
           "Cancel the orders whose Cancel cell is set"),
    Button("Refills", "Refill", "CreateRefills", "create_refills", "Redo",
           "Request a refill for rows whose Refill cell is set"),
    Button("Refills", "Refill status", "RefillStatus", "refill_status", "Info",
           "Update the status of requested refills"),
    Button("Panel", "Balance", "ShowBalance", "show_balance", "AccountingFormat",
           "Show the panel account balance"),
    Button("Panel", "Load services", "LoadServices", "load_services", "GetExternalDataFromText",
           "Write the panel's service list into the Services sheet"),
    Button("Check", "Self-test", "SelfTest", "self_test", "HappyFace",
           "Place, refresh, refill and a formula column against the built-in simulator "
           "(nothing is spent); shows a pass/fail table in a new workbook"),
)  # fmt: skip


# --------------------------------------------------------------------------- the parts


def ribbon_xml(buttons: Sequence[Button] = BUTTONS) -> bytes:
    """The customUI part: one tab, a group per ``Button.group``, large buttons."""
    from lxml import etree

    def q(tag: str) -> str:
        return f"{{{CUSTOM_UI_NS}}}{tag}"

    root = etree.Element(q("customUI"), nsmap={None: CUSTOM_UI_NS})
    tabs = etree.SubElement(etree.SubElement(root, q("ribbon")), q("tabs"))
    tab = etree.SubElement(tabs, q("tab"), id="smmsheetTab", label="smmsheet")
    groups: dict[str, Any] = {}
    for button in buttons:
        group = groups.get(button.group)
        if group is None:
            group_id = "smmsheet" + button.group.replace(" ", "")
            group = groups[button.group] = etree.SubElement(
                tab, q("group"), id=group_id, label=button.group
            )
        etree.SubElement(
            group,
            q("button"),
            id="smmsheet" + button.callback,
            label=button.label,
            size="large",
            imageMso=button.image,
            screentip=button.label,
            supertip=button.tip,
            onAction=f"{RIBBON_MODULE}.{button.callback}",
        )
    declaration = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    return declaration + bytes(etree.tostring(root, encoding="UTF-8"))


def ribbon_vba(buttons: Sequence[Button] = BUTTONS) -> str:
    """The ribbon callbacks module: each button runs one macro through xlwings' RunPython."""
    lines = [
        f'Attribute VB_Name = "{RIBBON_MODULE}"',
        "' Ribbon callbacks of the smmsheet add-in. Generated by smmsheet.addin: edit there.",
        "Option Explicit",
        "",
    ]
    for button in buttons:
        lines += [
            f"Sub {button.callback}(control As IRibbonControl)",
            f'    RunPython "import smmsheet.excel; smmsheet.excel.{button.macro}()"',
            "End Sub",
            "",
        ]
    return "\r\n".join(lines)


def udf_module_vba(
    functions: Sequence[Callable[..., Any]] | None = None, module: str = UDF_PYTHON_MODULE
) -> str:
    """The ``xlwings_udfs`` module for the formulas, as xlwings' "Import Functions" writes it.

    Mirrors ``xlwings.udfs.generate_vba_wrapper`` for add-ins (functions sorted by name,
    ``ActiveWorkbook`` as the book, errors returned as the cell's text); a test compares the
    two. Argument names and optional arguments come from the Python signatures. One thing
    is added: on macOS, where xlwings has no formulas, each returns :data:`MAC_FORMULA_TEXT`
    instead of a VBA or DLL error.
    """
    import inspect

    from xlwings import utils as xlwings_utils

    # xlwings ships no type hints: its writer is used as the untyped object it is.
    make_writer: Any = xlwings_utils.VBAWriter

    if functions is None:
        from .udf import FORMULAS

        functions = FORMULAS
    out = io.StringIO()
    vba = make_writer(out)
    vba.writeln(f'Attribute VB_Name = "{UDF_VBA_MODULE}"')
    vba.writeln("'Autogenerated code by xlwings - changes will be lost with next import!")
    vba.writeln("""#Const App = "Microsoft Excel" 'Adjust when using outside of Excel""")
    for func in sorted(functions, key=lambda f: f.__name__):
        name = func.__name__
        params = inspect.signature(func).parameters.values()
        declared = ", ".join(
            ("Optional " if p.default is not inspect.Parameter.empty else "") + p.name
            for p in params
        )
        args = "Array(" + ", ".join(p.name for p in params) + ")"
        with vba.block(f"Function {name}({declared})"):
            with vba.block("#If Mac Then"):  # xlwings' formulas need Windows: no DLL error
                vba.writeln(f'{name} = "{MAC_FORMULA_TEXT}"')
                vba.writeln("Exit Function")
            vba.writeln("#End If")
            with vba.block('#If App = "Microsoft Excel" Then'):
                vba.writeln("If TypeOf Application.Caller Is Range Then On Error GoTo failed")
                vba.writeln(
                    f'{name} = XLPy.CallUDF("{module}", "{name}", {args}, '
                    "ActiveWorkbook, Application.Caller)"
                )
                vba.writeln("Exit Function")
            with vba.block("#Else"):
                vba.writeln(f'{name} = XLPy.CallUDF("{module}", "{name}", {args})')
                vba.writeln("Exit Function")
            vba.writeln("#End If")
            vba.write_label("failed")
            vba.writeln(f"{name} = Err.Description")
        vba.writeln("End Function")
        vba.writeln("")
    return out.getvalue()


def _vba_text(text: str) -> str:
    """A VBA string literal (at most 255 characters, as MacroOptions takes)."""
    return '"' + " ".join(text.split())[:255].replace('"', '""') + '"'


def function_help_vba(functions: Sequence[Callable[..., Any]] | None = None) -> str:
    """The module that gives each SMM_* formula its Function Wizard help, in "smmsheet".

    What xlwings' "Import Functions" does through ``Application.MacroOptions``
    (``xlwings.udfs.import_udfs``): the description is the docstring, each argument's help
    its ``@xw.arg(doc=...)``. Excel keeps neither category nor argument help in the file,
    so the add-in's ``Workbook_Open`` runs this each time it opens.
    """
    if functions is None:
        from .udf import FORMULAS

        functions = FORMULAS
    lines = [
        f'Attribute VB_Name = "{HELP_VBA_MODULE}"',
        "' Function Wizard help of the SMM_* formulas. Generated by smmsheet.addin: edit there.",
        "Option Explicit",
        "",
        f"Public Sub {HELP_SUB}()",
        "    On Error Resume Next  ' help text is never worth an error dialog",
    ]
    for func in sorted(functions, key=lambda f: f.__name__):
        info = _xlfunc_info(func)
        macro = f'"\'" & ThisWorkbook.Name & "\'!{info["name"]}"'
        description, category = _vba_text(info["doc"]), _vba_text(info["category"])
        call = [
            f"    Application.MacroOptions Macro:={macro}, _",
            f"        Description:={description}, Category:={category}",
        ]
        if info["args"]:
            docs = ", ".join(_vba_text(doc) for doc in info["args"])
            call[-1] += ", _"
            call.append(f"        ArgumentDescriptions:=Array({docs})")
        lines += call
    lines += [
        "    ThisWorkbook.Saved = True  ' registering help is not a change to save",
        "End Sub",
        "",
    ]
    return "\r\n".join(lines)


def _xlfunc_info(func: Callable[..., Any]) -> dict[str, Any]:
    """Name, description, category and argument help, as xlwings' decorators record them.

    Read from the function itself where xlwings' real decorators ran (Windows), else from
    the same sources they read: the docstring and the ``@xw.arg(doc=...)`` of smmsheet.udf.
    """
    import inspect

    from .udf import ARG_HELP, CATEGORY

    recorded = getattr(func, "__xlfunc__", None)
    if recorded is not None:
        return {
            "name": recorded["name"],
            "doc": recorded["ret"]["doc"],
            "category": recorded["category"],
            "args": [a["doc"] for a in recorded["args"] if not a["vba"]],
        }
    name = func.__name__
    params = inspect.signature(func).parameters
    return {
        "name": name,
        "doc": func.__doc__ or name,
        "category": CATEGORY,
        "args": [ARG_HELP[name][p] for p in params],
    }


def this_workbook_vba(template_source: str) -> str:
    """The add-in's ThisWorkbook module: the template's, plus a Workbook_Open for the help."""
    return (
        template_source.rstrip("\r\n")
        + "\r\n"
        + "\r\n".join(
            [
                "Private Sub Workbook_Open()",
                f"    {HELP_SUB}",
                "End Sub",
                "",
            ]
        )
    )


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


#: Edits to xlwings' GetConfig: (what the template says, what smmsheet's add-in says). A
#: workbook the user opens (a stranger's .xlsx, no macros) must not choose the program Excel
#: starts: a sheet ``smmsheet.conf`` in it, or a file ``smmsheet.conf`` beside it, could set
#: ``Interpreter_Win`` or ``PYTHONPATH``. The add-in's own sheet and the user's own file stay.
CONFIG_LOOKUP_EDITS = (
    (
        'If SheetExists(ActiveWorkbook, PROJECT_NAME & ".conf") = True Then',
        "If False Then  ' smmsheet: a workbook the user opens never configures the add-in",
    ),
    (
        'If source = "" Or source = "directory" Then',
        'If source = "directory" Then  \' smmsheet: nor does a file beside that workbook',
    ),
)


def _edit_xlwings_module(xlwings_module: str) -> str:
    """xlwings' module with the project named smmsheet and the config lookup above."""
    pattern = re.compile(r'(Public Const PROJECT_NAME As String = ")myaddin(")')
    changed, count = pattern.subn(rf"\g<1>{PROJECT_NAME}\g<2>", xlwings_module)
    if count != 1:
        raise ConfigError("the xlwings add-in template has no PROJECT_NAME constant to set")
    for before, after in CONFIG_LOOKUP_EDITS:
        if changed.count(before) != 1:
            raise ConfigError(f"the xlwings add-in template's GetConfig has no {before!r}")
        changed = changed.replace(before, after)
    return changed


def _edit_vba(template: bytes) -> bytes:
    """The template's vbaProject.bin with smmsheet's ribbon and formula modules."""
    try:
        from pyopenvba import ExcelFile
    except ImportError:
        raise ConfigError(f"building the add-in needs pyopenvba: {PYOPENVBA_HINT}") from None

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / ADDIN_NAME
        source.write_bytes(template)
        with ExcelFile(source) as book:
            project = book.vba_project()
            project.rename_module(TEMPLATE_RIBBON_MODULE, RIBBON_MODULE)
            book.set_module(RIBBON_MODULE, ribbon_vba())
            book.set_module("xlwings", _edit_xlwings_module(book.get_module("xlwings")))
            project.add_module(UDF_VBA_MODULE, _crlf(udf_module_vba()))
            project.add_module(HELP_VBA_MODULE, function_help_vba())
            book.set_module("ThisWorkbook", this_workbook_vba(book.get_module("ThisWorkbook")))
            book.save()
        with ExcelFile(source) as saved:  # pending renames and adds land only on save
            problems = saved.validate()
        if problems:
            raise ConfigError("the edited VBA project is inconsistent: " + "; ".join(problems))
        with zipfile.ZipFile(source) as edited:
            return _clean_project(edited.read("xl/vbaProject.bin"))


def _clean_project(vba_project: bytes) -> bytes:
    """vbaProject.bin with the project named smmsheet and no folder of the template's author.

    Two places name the project: the PROJECTNAME record of the ``dir`` stream (MS-OVBA
    2.3.4.2.1.6) and ``Name=`` in the ``PROJECT`` stream. The Microsoft Forms reference's
    extended record (REFERENCECONTROL, 2.3.4.2.2.3) names the ``.exd`` cache in the Temp
    folder of whoever saved the template last (``C:\\Users\\<name>\\...``); it is given the
    original libid instead, as the VBA editor itself accepts and keeps (pyopenvba writes
    Forms references so too). The ``_VBA_PROJECT`` cache was already invalidated by the
    edit, so Excel compiles from the source.
    """
    from pyopenvba.cfb import CFB
    from pyopenvba.vba import compress, decompress

    cfb = CFB.from_bytes(vba_project)
    directory = _clean_dir(decompress(cfb.get_stream_in_storage("VBA", "dir")))
    cfb.write_stream_in_storage("VBA", "dir", compress(directory))
    text = cfb.get_stream("PROJECT").decode("latin-1")
    text, named = re.subn(r'(?m)^Name="[^"\r\n]*"', f'Name="{PROJECT_NAME}"', text)
    if named != 1:
        raise ConfigError("the xlwings add-in template's PROJECT stream has no Name")
    cfb.write_stream("PROJECT", text.encode("latin-1"))
    return bytes(cfb.to_bytes())


def _clean_dir(raw: bytes) -> bytes:
    """The decompressed ``dir`` stream, renamed and without user folders (see above)."""
    out = bytearray()
    pos = 0
    original_libid = b""
    while pos + 6 <= len(raw):
        rid, size = struct.unpack_from("<HI", raw, pos)
        if rid == 0x0F:  # PROJECTMODULES: the rest names modules only
            break
        end = pos + (12 if rid == 0x09 else 6 + size)  # PROJECTVERSION's size is fixed
        body = raw[pos + 6 : end]
        if rid == 0x04:  # PROJECTNAME
            body = PROJECT_NAME.encode("ascii")
        elif rid == 0x33:  # REFERENCEORIGINAL: the control's library as registered
            original_libid = body
        elif rid == 0x30 and original_libid:  # REFERENCECONTROL's extended part
            (length,) = struct.unpack_from("<I", body, 0)
            rest = body[4 + length :]
            body = struct.pack("<I", len(original_libid)) + original_libid + rest
        if rid == 0x09:
            out += raw[pos:end]
        else:
            out += struct.pack("<HI", rid, len(body)) + body
        pos = end
    else:
        raise ConfigError("the xlwings add-in template's VBA dir stream has no module list")
    return bytes(out + raw[pos:])


def config_settings(interpreters: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The add-in's ``smmsheet.conf`` sheet, row by row: what xlwings' VBA reads there.

    ``UDF Modules`` names the formulas' module; ``ADD_WORKBOOK_TO_PYTHONPATH`` is false
    (smmsheet is installed, and xlwings refuses a OneDrive/SharePoint workbook that is not
    synced when it tries to add the workbook's folder); ``interpreters`` maps
    ``Interpreter_Win`` / ``Interpreter_Mac`` to the Python that has smmsheet (without one,
    xlwings runs ``python`` from PATH and finds its DLL nowhere).
    """
    rows = [(UDF_MODULES_KEY, UDF_PYTHON_MODULE), (ADD_WORKBOOK_KEY, "false")]
    for key, value in (interpreters or {}).items():
        if key not in INTERPRETER_KEYS.values():
            raise ConfigError(f"not an interpreter setting: {key}")
        rows.append((key, value))
    return rows


def _config_sheet(
    workbook_xml: bytes, sheet_xml: bytes, settings: Sequence[tuple[str, str]]
) -> tuple[bytes, bytes, bytes]:
    """workbook.xml, sharedStrings.xml and the config sheet holding ``settings`` in A:B."""
    from xml.sax.saxutils import escape

    text = workbook_xml.decode("utf-8")
    text, renamed = re.subn(r'name="_myaddin\.conf"', f'name="{CONFIG_SHEET}"', text)
    if renamed != 1:
        raise ConfigError("the xlwings add-in template has no _myaddin.conf sheet")
    # The template remembers its author's folder; an add-in should not carry one.
    text = re.sub(r"<mc:AlternateContent\b.*?</mc:AlternateContent>", "", text, flags=re.S)
    # 32767 is outside the schema's list of image resolutions; Excel's default is used.
    text = re.sub(r'\s+defaultImageDpi="(?!96"|150"|220"|330")[^"]*"', "", text)
    strings = [part for row in settings for part in row]
    items = "".join(f'<si><t xml:space="preserve">{escape(v)}</t></si>' for v in strings)
    shared = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
    )
    rows = "".join(
        f'<row r="{n}" spans="1:2"><c r="A{n}" s="1" t="s"><v>{2 * n - 2}</v></c>'
        f'<c r="B{n}" s="1" t="s"><v>{2 * n - 1}</v></c></row>'
        for n in range(1, len(settings) + 1)
    )
    sheet = sheet_xml.decode("utf-8")
    sheet, replaced = re.subn(
        r"<sheetData>.*?</sheetData>", f"<sheetData>{rows}</sheetData>", sheet, flags=re.S
    )
    sheet = re.sub(r'<dimension ref="[^"]*"', f'<dimension ref="A1:B{len(settings)}"', sheet)
    if replaced != 1:
        raise ConfigError("the xlwings add-in template's config sheet has no cells")
    return text.encode("utf-8"), shared.encode("utf-8"), sheet.encode("utf-8")


def _core_properties(core_xml: bytes) -> bytes:
    """docProps/core.xml naming smmsheet instead of the template's author, no build time."""
    text = core_xml.decode("utf-8")
    for tag, value in (("dc:creator", "smmsheet"), ("cp:lastModifiedBy", "smmsheet")):
        text = re.sub(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", text)
    text = re.sub(
        r"<dc:title\s*/>|<dc:title>[^<]*</dc:title>", "<dc:title>smmsheet</dc:title>", text
    )
    return text.encode("utf-8")


def template_path() -> Path:
    """xlwings' ribbon add-in template inside the installed xlwings package."""
    import xlwings

    path = Path(xlwings.__file__).resolve().parent / TEMPLATE_NAME
    if not path.is_file():
        raise ConfigError(f"the installed xlwings has no {TEMPLATE_NAME} (xlwings too old?)")
    return path


def build_addin(
    out: str | Path | None = None,
    *,
    template: str | Path | None = None,
    interpreters: Mapping[str, str] | None = None,
) -> bytes:
    """Build smmsheet.xlam from xlwings' template; write it to ``out`` if given, return bytes.

    ``interpreters`` (``{"Interpreter_Win": r"C:\\...\\pythonw.exe"}``) go into the
    add-in's config sheet, see :func:`config_settings`.

    >>> data = build_addin("smmsheet.xlam")  # doctest: +SKIP
    """
    source = Path(template) if template is not None else template_path()
    original = source.read_bytes()
    with zipfile.ZipFile(io.BytesIO(original)) as package:
        members = [info.filename for info in package.infolist()]
        parts = {name: package.read(name) for name in members}
    custom_ui = next((m for m in members if m.lower().startswith("customui/")), None)
    sheet = "xl/worksheets/sheet1.xml"
    needed = ["xl/vbaProject.bin", "xl/workbook.xml", "xl/sharedStrings.xml", sheet, "_rels/.rels"]
    if custom_ui is None or any(name not in parts for name in needed):
        raise ConfigError(f"{source.name} is not the xlwings ribbon add-in template")
    workbook, shared, config = _config_sheet(
        parts["xl/workbook.xml"], parts[sheet], config_settings(interpreters)
    )
    replaced: Mapping[str, bytes] = {
        custom_ui: ribbon_xml(),
        "xl/vbaProject.bin": _edit_vba(original),
        "xl/workbook.xml": workbook,
        "xl/sharedStrings.xml": shared,
        sheet: config,
        "docProps/core.xml": _core_properties(parts["docProps/core.xml"]),
        "_rels/.rels": parts["_rels/.rels"].replace(
            CUSTOM_UI14_REL.encode(), CUSTOM_UI_REL.encode()
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0  # the same bytes whichever OS builds it
            info.external_attr = 0
            target.writestr(info, replaced.get(name, parts[name]), compresslevel=6)
    data = buffer.getvalue()
    if out is not None:
        _write_atomically(Path(out), data)
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` beside ``path`` and rename it over: never a half-written add-in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0600 would hide it from other users
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- installing


def addin_dir(
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    instead: str = "",
) -> Path:
    """Excel's per-user startup folder (XLSTART): add-ins there load when Excel starts.

    Windows: ``%APPDATA%\\Microsoft\\Excel\\XLSTART``. macOS: Office's group container
    startup folder when it exists, else the sandboxed Excel container's XLSTART. Elsewhere
    there is no Excel: :class:`ConfigError`, which offers the caller's option ``instead``
    (``--dir``), if it has one.
    """
    platform = platform or sys.platform
    env = os.environ if environ is None else environ
    home = home or Path.home()
    if platform.startswith("win"):
        appdata = env.get("APPDATA")
        if not appdata:
            raise ConfigError("APPDATA is not set: cannot find Excel's XLSTART folder")
        return Path(appdata) / "Microsoft" / "Excel" / "XLSTART"
    if platform == "darwin":
        group = home / "Library/Group Containers/UBF8T346G9.Office/User Content/Startup/Excel"
        container = (
            home / "Library/Containers/com.microsoft.Excel/Data/Library/Application Support"
            "/Microsoft/Office/Excel/XLSTART"
        )
        return group if group.parent.parent.is_dir() else container
    raise ConfigError(
        f"Excel is not available on this system ({platform}): build the add-in with "
        "`smmsheet addin build` and install it on Windows or macOS"
        + (f", or pass {instead}" if instead else "")
    )


def default_interpreter(platform: str | None = None, executable: str | None = None) -> str:
    """The Python Excel should run: this one, as ``pythonw.exe`` on Windows (no console)."""
    platform = platform or sys.platform
    python = Path(executable or sys.executable)
    if platform.startswith("win"):
        windowless = python.with_name("pythonw.exe")
        if windowless.is_file():
            return str(windowless)
    return str(python)


@dataclass(frozen=True)
class Installed:
    """What :func:`install_addin` did."""

    addin: Path
    interpreters: dict[str, str]
    #: macOS: where RunPython's AppleScript was copied (None elsewhere).
    mac_script: Path | None = None


def install_addin(
    directory: str | Path | None = None,
    *,
    interpreter: str | None = None,
    platform: str | None = None,
    home: Path | None = None,
) -> Installed:
    """Build the add-in for this Python and copy it into ``directory`` (Excel's XLSTART).

    The add-in's config sheet names the interpreter (``interpreter``, by default this
    Python: :func:`default_interpreter`) as ``Interpreter_Win`` on Windows or
    ``Interpreter_Mac`` on macOS. On macOS RunPython also needs xlwings' AppleScript in
    Excel's script folder: copied there, as ``xlwings runpython install`` does.
    """
    platform = platform or sys.platform
    target_dir = (
        Path(directory)
        if directory is not None
        else addin_dir(platform, home=home, instead="--dir")
    )
    key = INTERPRETER_KEYS.get("win32" if platform.startswith("win") else platform)
    interpreters: dict[str, str] = {}
    if key is not None:
        interpreters[key] = interpreter or default_interpreter(platform)
    elif interpreter is not None:
        raise ConfigError(f"no Excel on {platform}: use `smmsheet addin build --interpreter`")
    target = target_dir / ADDIN_NAME
    try:
        build_addin(target, interpreters=interpreters)
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc} (is Excel open?)") from exc
    script = install_mac_script(home) if platform == "darwin" else None
    return Installed(target, interpreters, script)


def install_mac_script(home: Path | None = None) -> Path:
    """Copy xlwings' RunPython AppleScript where Excel for Mac looks (``runpython install``)."""
    import shutil

    import xlwings

    name = f"xlwings-{xlwings.__version__}.applescript"
    source = Path(xlwings.__file__).resolve().parent / name
    folder = (home or Path.home()) / MAC_SCRIPTS_DIR
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / name)
    except OSError as exc:
        raise ConfigError(
            f"cannot copy {name} into {folder}: {exc.strerror or exc}; "
            "run `xlwings runpython install` once instead"
        ) from exc
    return folder / name


# --------------------------------------------------------------------------- doctor


@dataclass(frozen=True)
class Check:
    """One line of ``smmsheet addin doctor``."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


#: What the interpreter Excel runs must be able to do, printed as "smmsheet <v> xlwings <v>".
PROBE = "import smmsheet, xlwings; print(smmsheet.__version__, xlwings.__version__)"
PROBE_TIMEOUT = 60.0

Runner = Callable[[list[str]], "tuple[int, str]"]


def _run(command: list[str]) -> tuple[int, str]:
    import subprocess

    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def read_addin(path: Path) -> tuple[dict[str, str], str | None]:
    """The config sheet (keys upper case, as xlwings reads them) and the xlwings version
    the add-in's VBA was built for."""
    from lxml import etree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(path) as package:
        shared = etree.fromstring(package.read("xl/sharedStrings.xml"))
        sheet = etree.fromstring(package.read("xl/worksheets/sheet1.xml"))
    strings = ["".join(si.itertext()) for si in shared.iter(f"{main}si")]
    cells = {
        c.get("r", ""): strings[int(c.findtext(f"{main}v") or 0)] for c in sheet.iter(f"{main}c")
    }
    settings: dict[str, str] = {}
    row = 1
    while f"A{row}" in cells:  # Range("A1").End(xlDown), as GetConfigFromSheet reads it
        settings[cells[f"A{row}"].upper()] = cells.get(f"B{row}", "")
        row += 1
    if len(cells) != 2 * len(settings):
        raise ConfigError(f"{path.name}: the config sheet has cells xlwings does not read")
    try:
        from pyopenvba import ExcelFile
    except ImportError:
        raise ConfigError(f"reading the add-in's VBA needs pyopenvba: {PYOPENVBA_HINT}") from None
    with ExcelFile(path) as book:
        found = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', book.get_module("xlwings"))
    version = found.group(1) if found else None
    return settings, version


def doctor(
    addin: Path | None = None,
    *,
    platform: str | None = None,
    home: Path | None = None,
    run: Runner = _run,
    balance: Callable[[], str] | None = None,
    code_page: str | None = None,
) -> list[Check]:
    """What Excel will run when the ribbon is clicked, and whether it works: one check each.

    ``code_page`` is Windows' ANSI code page (default: this system's), the one Excel
    converts the interpreter's path to for xlwings' DLL calls.

    ``run`` runs a command (the interpreter's probe); ``balance`` asks the panel (default:
    resolve it as the ribbon does, from the environment and the user config file).
    """
    platform = platform or sys.platform
    checks: list[Check] = []
    try:
        path = (
            addin
            if addin is not None
            else addin_dir(platform, home=home, instead="--addin FILE") / ADDIN_NAME
        )
    except ConfigError as exc:
        return [Check("add-in", False, str(exc)), _panel_check(balance)]
    if not path.is_file():
        checks.append(Check("add-in", False, f"{path} is missing: run `smmsheet addin install`"))
        checks.append(_panel_check(balance))
        return checks
    try:
        settings, built_for = read_addin(path)
    except Exception as exc:  # noqa: BLE001 - a damaged file is a finding, not a crash
        checks.append(Check("add-in", False, f"{path} cannot be read: {exc}"))
        checks.append(_panel_check(balance))
        return checks
    checks.append(Check("add-in", True, f"{path} (built for xlwings {built_for})"))
    checks.append(
        Check(
            "formulas module",
            settings.get(UDF_MODULES_KEY.upper()) == UDF_PYTHON_MODULE,
            f"UDF Modules = {settings.get(UDF_MODULES_KEY.upper())!r}",
        )
    )
    add_dir = settings.get(ADD_WORKBOOK_KEY, "true").lower()
    checks.append(
        Check(
            "workbook folder kept off the path",
            add_dir == "false",
            f"{ADD_WORKBOOK_KEY} = {add_dir}",
        )
    )
    key = INTERPRETER_KEYS.get("win32" if platform.startswith("win") else platform, "")
    interpreter = settings.get(key.upper(), "") if key else ""
    if not interpreter:
        checks.append(
            Check(
                "interpreter",
                False,
                f"the add-in names none ({key or 'no Excel here'}): Excel would run `python` "
                "from PATH; run `smmsheet addin install` with the Python that has smmsheet",
            )
        )
    elif not Path(interpreter).is_file():
        checks.append(Check("interpreter", False, f"{interpreter} does not exist"))
    else:
        checks.append(Check("interpreter", True, interpreter))
        code, output = run([interpreter, "-c", PROBE])
        versions = output.split()
        if code != 0 or len(versions) != 2:
            checks.append(Check("imports smmsheet", False, (output or f"exit {code}")[-300:]))
        else:
            same = versions[1] == built_for
            detail = f"smmsheet {versions[0]}, xlwings {versions[1]}"
            if not same:
                detail += f"; the add-in is built for {built_for}: run `smmsheet addin install`"
            checks.append(Check("imports smmsheet", same, detail))
        if platform.startswith("win"):
            checks.append(_ansi_check(interpreter, code_page or _ansi_code_page()))
            checks.append(_dll_check(Path(interpreter), built_for))
    if platform == "darwin":
        script = (home or Path.home()) / MAC_SCRIPTS_DIR / f"xlwings-{built_for}.applescript"
        checks.append(
            Check(
                "RunPython (macOS)",
                script.is_file(),
                str(script)
                if script.is_file()
                else f"{script} is missing: run "
                "`smmsheet addin install` (or `xlwings runpython install`)",
            )
        )
    checks.append(_panel_check(balance))
    return checks


def _ansi_code_page() -> str:
    """Windows' ANSI code page (``cp1252`` on a Western system); elsewhere the locale's."""
    import ctypes
    import locale

    windll = getattr(ctypes, "windll", None)
    if windll is not None:
        return f"cp{windll.kernel32.GetACP()}"
    return locale.getpreferredencoding(False)


def _ansi_check(interpreter: str, code_page: str) -> Check:
    """xlwings' VBA passes the path ``ByVal As String`` (and to LoadLibraryA): in ANSI."""
    try:
        interpreter.encode(code_page)
    except (UnicodeEncodeError, LookupError):
        return Check(
            "interpreter path",
            False,
            f"{interpreter} has characters outside Windows' code page {code_page}, which "
            "Excel passes to xlwings: put the environment in a folder with a plain name "
            r"(e.g. C:\smmsheet\venv) and run `smmsheet addin install` from it",
        )
    return Check("interpreter path", True, f"passes to xlwings in {code_page}")


def _dll_check(interpreter: Path, version: str | None) -> Check:
    """Where xlwings' VBA loads its DLL from: the interpreter's folder or its parent (venv)."""
    names = [f"xlwings64-{version}.dll", f"xlwings32-{version}.dll"]
    folders = [interpreter.parent, interpreter.parent.parent]
    for folder in folders:
        for name in names:
            if (folder / name).is_file():
                return Check("xlwings DLL", True, str(folder / name))
    where = " or ".join(str(f) for f in folders)
    return Check(
        "xlwings DLL",
        False,
        f"no {names[0]} in {where}: reinstall xlwings {version} into that Python",
    )


def _panel_check(balance: Callable[[], str] | None) -> Check:
    from .errors import SmmsheetError

    try:
        answer = balance() if balance is not None else _balance()
    except SmmsheetError as exc:
        return Check("panel", False, str(exc))
    return Check("panel", True, answer)


def _balance() -> str:
    """The panel as the ribbon resolves it (environment, user config file) and its balance."""
    from .config import resolve_panel
    from .values import money

    settings = resolve_panel()
    with settings.client() as client:
        found = client.balance()
    return f"{client.shown_url} answers: balance {money(found.amount)} {found.currency}".strip()

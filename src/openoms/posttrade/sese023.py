"""ISO 20022 sese.023-like XML (SecuritiesSettlementTransactionInstruction) per settlement instruction.

A practical subset of sese.023.001.09: transaction identification, trade details (dates, price),
financial instrument (ISIN), quantity and account, settlement parties (depository, agent,
safekeeping account) and the settlement amount with its credit/debit direction. Its structure
is checked in the tests against ``sese023.xsd`` (written for this subset).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from .events import SettlementInstruction

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:sese.023.001.09"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def sese023(instruction: SettlementInstruction) -> bytes:
    ET.register_namespace("", NAMESPACE)
    document = ET.Element(f"{{{NAMESPACE}}}Document")
    root = _sub(document, "SctiesSttlmTxInstr")
    _sub(root, "TxId", instruction.instruction_id)
    params = _sub(root, "SttlmTpAndAddtlParams")
    _sub(params, "SctiesMvmntTp", "RECE" if instruction.direction == "RVP" else "DELI")
    _sub(params, "Pmt", "APMT")  # against payment
    trade = _sub(root, "TradDtls")
    _sub(_sub(trade, "TradDt"), "Dt", instruction.trade_date)
    _sub(_sub(trade, "SttlmDt"), "Dt", instruction.settlement_date)
    _sub(_sub(_sub(trade, "DealPric"), "Val"), "Amt", str(instruction.price), Ccy=instruction.currency)
    instrument = _sub(root, "FinInstrmId")
    if instruction.isin:
        _sub(instrument, "ISIN", instruction.isin)
    _sub(_sub(instrument, "OthrId"), "Id", instruction.symbol)
    quantity = _sub(root, "QtyAndAcctDtls")
    _sub(_sub(quantity, "SttlmQty"), "Qty", str(instruction.quantity))
    _sub(quantity, "SfkpgAcct", instruction.ssi.safekeeping_account)
    _sub(quantity, "AcctOwnr", instruction.account)
    parties = _sub(root, "SttlmPties")
    _sub(_sub(parties, "Dpstry"), "AnyBIC", instruction.ssi.depository)
    _sub(_sub(parties, "Pty1"), "AnyBIC", instruction.ssi.agent_bic)
    amounts = _sub(root, "SttlmAmt")
    _sub(amounts, "Amt", str(instruction.net_money), Ccy=instruction.currency)
    _sub(amounts, "CdtDbtInd", "DBIT" if instruction.direction == "RVP" else "CRDT")
    for tag, value in (("GrssAmt", instruction.gross), ("Comssn", instruction.commission), ("ChrgsFees", instruction.fees),
                       ("AcrdIntrstAmt", instruction.accrued_interest)):
        _sub(_sub(root, "OthrAmts"), tag, str(value), Ccy=instruction.currency)
    return bytes(ET.tostring(document, encoding="utf-8", xml_declaration=True))

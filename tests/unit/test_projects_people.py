"""Partners as people in the projects service: events name a partner by id and never carry its name; a partner's
kind, organisation and role are edited by an event; its personal data is erased by one, also on a closed project;
``partner-registered`` version 1 (with the name inline) is read as version 2."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date

import pytest

from projects import domain, handlers
from projects.handlers import people
from projects.people_tables import PARTNER_CONTACT, ContactWrite, PartnerContact
from shared.commands import CommandOutcome
from shared.contracts import projects as ev
from shared.contracts.people import PartnerEdited, PartnerPersonalDataErased, PartnerRegisteredV2
from shared.errors import InvalidCommandError, NotFoundError, RuleViolationError
from tests.support.fakes import FixedClock, InMemoryExecutor, acting_as
from tests.support.projects import APPROVE, NOW, PID, REGISTER, START, Scenario

TODAY = NOW.date()
P = uuid.UUID(int=70)
EXTERNAL, INTERNAL = ev.PartnerKind.EXTERNAL_PARTNER, ev.PartnerKind.INTERNAL_STAKEHOLDER
V1 = {
    "project_id": str(PID),
    "partner_id": str(P),
    "name": "Grace Hopper",
    "kind": "external_partner",
    "organisation": "Acme Ltd",
    "role": "integrator",
}


def with_partner() -> Scenario:
    return Scenario().given(REGISTER, APPROVE, START, domain.RegisterPartner(P, EXTERNAL, "Acme Ltd", "integrator"))


def test_a_registered_partner_is_named_by_id_and_its_event_carries_no_name() -> None:
    s = Scenario().given(REGISTER, APPROVE, START)
    (registered,) = s.when(domain.RegisterPartner(P, EXTERNAL, "Acme Ltd", "integrator"))
    assert isinstance(registered, PartnerRegisteredV2) and registered.event_version == 2
    assert registered.model_dump(mode="json") == {
        "project_id": str(PID),
        "partner_id": str(P),
        "kind": "external_partner",
        "organisation": "Acme Ltd",
        "role": "integrator",
    }
    assert s.state.partners[P].name is None


def test_version_1_is_read_as_version_2_with_its_inline_name_which_is_never_written_again() -> None:
    read = ev.REGISTRY.decode("partner-registered", 1, V1)
    assert isinstance(read, PartnerRegisteredV2) and read.name == "Grace Hopper" and read.kind is EXTERNAL
    assert "name" not in read.model_dump(mode="json")
    assert ev.REGISTRY.decode_json("partner-registered", 1, json.dumps(V1)) == read
    assert "name" not in ev.REGISTRY.decode("partner-registered", 2, V1).model_dump(mode="json")
    s = Scenario().given(REGISTER, APPROVE, START).given_events(read)
    assert s.state.partners[P].name == "Grace Hopper"
    (erased,) = s.when(domain.ErasePartnerPersonalData(P, TODAY))
    assert isinstance(erased, PartnerPersonalDataErased) and s.state.partners[P].name is None
    assert s.state.partners[P].personal_data_erased_on == TODAY


def test_an_edit_records_the_partner_as_it_stands_and_what_it_was() -> None:
    s = with_partner()
    (edited,) = s.when(domain.EditPartner(P, role="prime contractor"))
    assert edited == PartnerEdited(
        project_id=PID,
        partner_id=P,
        kind=EXTERNAL,
        organisation="Acme Ltd",
        role="prime contractor",
        previous_kind=EXTERNAL,
        previous_organisation="Acme Ltd",
        previous_role="integrator",
    )
    s.when(domain.EditPartner(P, kind=INTERNAL, organisation=""))
    partner = s.state.partners[P]
    assert (partner.kind, partner.organisation, partner.role) == (INTERNAL, "", "prime contractor")


def test_an_edit_that_changes_nothing_records_nothing_and_one_that_names_nothing_is_refused() -> None:
    s = with_partner()
    assert s.when(domain.EditPartner(P, kind=EXTERNAL, role="integrator")) == []
    with pytest.raises(InvalidCommandError) as error:
        s.when(domain.EditPartner(P))
    assert error.value.field == "kind"
    with pytest.raises(NotFoundError):
        s.when(domain.EditPartner(uuid.uuid4(), role="x"))


def test_a_closed_project_accepts_no_edit_but_forgets_a_partner_once() -> None:
    s = with_partner().given(domain.TerminateProject("funding withdrawn", TODAY))
    with pytest.raises(RuleViolationError):
        s.when(domain.EditPartner(P, role="x"))
    (erased,) = s.when(domain.ErasePartnerPersonalData(P, TODAY))
    assert erased == PartnerPersonalDataErased(project_id=PID, partner_id=P, erased_on=TODAY)
    assert s.when(domain.ErasePartnerPersonalData(P, TODAY)) == []
    with pytest.raises(NotFoundError):
        s.when(domain.ErasePartnerPersonalData(uuid.uuid4(), TODAY))
    with pytest.raises(NotFoundError):
        Scenario().when(domain.ErasePartnerPersonalData(P, TODAY))


# --- handlers -----------------------------------------------------------------------------------------------


@dataclass
class FakeContacts:
    """The erasable table: contacts by partner id, and the partners whose data was erased."""

    rows: dict[uuid.UUID, PartnerContact] = field(default_factory=dict)
    erased: set[uuid.UUID] = field(default_factory=set)

    async def contacts(self, project_id: uuid.UUID) -> dict[uuid.UUID, PartnerContact]:
        return {k: c for k, c in self.rows.items() if c.project_id == project_id}

    async def replace(self, contact: PartnerContact) -> ContactWrite:
        if contact.partner_id in self.erased:
            return ContactWrite.ERASED
        if contact.partner_id not in self.rows:
            return ContactWrite.NO_SUCH_PARTNER
        self.rows[contact.partner_id] = contact
        return ContactWrite.REPLACED


def active_executor() -> InMemoryExecutor:
    executor = InMemoryExecutor(clock=FixedClock())
    executor.given(domain.stream_id(PID), *Scenario().given(REGISTER, APPROVE, START).history)
    return executor


async def test_registering_answers_with_the_name_given_and_hands_the_contact_to_the_projector() -> None:
    executor = active_executor()
    seen: list[PartnerContact | None] = []
    original = executor.execute

    async def spying(*args: object, **kwargs: object) -> object:
        seen.append(PARTNER_CONTACT.get())
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    executor.execute = spying  # type: ignore[method-assign,assignment]
    outcome = await handlers.register_partner(
        executor,
        acting_as("pat.pmo"),
        PID,
        name="Grace Hopper",
        kind=EXTERNAL,
        organisation="Acme Ltd",
        role="integrator",
        email="grace@acme.example",
    )
    assert outcome.status_code == 201 and outcome.body["name"] == "Grace Hopper" and outcome.body_json is None
    (registered,) = executor.appended(domain.stream_id(PID))[-1:]
    assert isinstance(registered, PartnerRegisteredV2) and "Grace" not in registered.model_dump_json()
    assert seen and seen[0] is not None and seen[0].email == "grace@acme.example"
    assert PARTNER_CONTACT.get() is None  # reset after the command


async def test_personal_data_is_replaced_until_erased_and_reads_prefer_the_table() -> None:
    contacts = FakeContacts({P: PartnerContact(PID, P, "Grace Hopper")})
    replaced = await people.replace_partner_personal_data(contacts, PartnerContact(PID, P, "Grace B. Hopper", "g@x.io"))
    assert replaced == {"partner_id": str(P), "name": "Grace B. Hopper", "email": "g@x.io", "phone": None}
    listed = people.with_names([{"partner_id": str(P), "name": "Old inline"}], await contacts.contacts(PID))
    assert listed == [{"partner_id": str(P), "name": "Grace B. Hopper"}]
    contacts.erased.add(P)
    with pytest.raises(RuleViolationError):
        await people.replace_partner_personal_data(contacts, PartnerContact(PID, P, "again"))
    with pytest.raises(NotFoundError):
        await people.replace_partner_personal_data(contacts, PartnerContact(PID, uuid.uuid4(), "nobody"))


async def test_editing_and_erasing_through_the_handlers() -> None:
    executor = active_executor()
    executor.given(domain.stream_id(PID), *with_partner().history[3:])
    contacts = FakeContacts({P: PartnerContact(PID, P, "Grace Hopper")})
    edited = await people.edit_partner(
        executor, contacts, acting_as("pat.pmo"), PID, P, kind=None, organisation="Acme Group", role=None
    )
    assert edited.body["organisation"] == "Acme Group" and edited.body["name"] == "Grace Hopper"
    erased = await people.erase_partner_personal_data(executor, acting_as("pat.pmo"), PID, P)
    assert erased.status_code == 204
    last = executor.appended(domain.stream_id(PID))[-1]
    assert isinstance(last, PartnerPersonalDataErased) and last.erased_on == date(2027, 3, 1)


async def test_a_stored_answer_is_named_as_the_table_does_now() -> None:
    """A replayed registration's stored answer holds no name: it is named from the table, null once erased."""
    stored: CommandOutcome[object] = CommandOutcome(
        201, {"partner_id": str(P), "name": None, "role": "integrator"}, 4, replayed=True
    )
    contacts = FakeContacts({P: PartnerContact(PID, P, "Grace B. Hopper")})
    named = await people.named(contacts, PID, stored)
    assert named.body == {"partner_id": str(P), "name": "Grace B. Hopper", "role": "integrator"}
    assert named.replayed and named.version == 4 and named.body_json is None
    contacts.rows.clear()
    assert (await people.named(contacts, PID, stored)).body["name"] is None
    assert (await people.named(None, PID, stored)).body["name"] is None

"""``organization.json`` → ``Organization``: the OU tree and its service control policies.

Shape::

    {"Id": "o-example", "ManagementAccountId": "999999999999",
     "Policies": [{"Id": "p-full", "Name": "FullAWSAccess", "Document": {...}},
                  {"Id": "p-rcp", "Name": "OnlyOrg", "Type": "RESOURCE_CONTROL_POLICY",
                   "Document": {...}}],
     "Root": {"Id": "r-root", "Name": "Root", "PolicyIds": ["p-full"],
              "Accounts": ["111122223333", {"Id": "444455556666", "PolicyIds": ["p-x"]}],
              "Children": [{"Id": "ou-...", "Name": "...", "PolicyIds": [...], ...}]}}

``Type`` is ``SERVICE_CONTROL_POLICY`` (the default) or ``RESOURCE_CONTROL_POLICY``; ``PolicyIds``
of a root, OU or account entry may name both kinds. AWS requires at least one SCP on every root
and OU; an account entry may add an account-level set. RCPs need no attachment: AWS attaches
``RCPFullAWSAccess`` everywhere and it cannot be detached, so it is implied. Problems: policy not
found (``NoSuchEntity``), duplicate ids, an unknown ``Type``, bad account ids, an account placed
twice, a root/OU with no SCP. Imports neither cedarpy nor grpc.
"""

from __future__ import annotations

import re

from authz.iam.model import Policy, PolicyType
from authz.repo.entities import Organization, OrgUnit
from authz.repo.fields import FieldReader, Problems
from authz.repo.layout import Document

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_SCP, _RCP = "SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"


class _OrgBuilder:
    def __init__(self, doc: Document, problems: Problems) -> None:
        self.file = doc.rel
        self.problems = problems
        self.scps: dict[str, Policy] = {}
        self.rcps: dict[str, Policy] = {}
        self.scp_ids: set[str] = set()  # every policy id (SCP or RCP)
        self.rcp_ids: set[str] = set()
        self.placed: dict[str, str] = {}  # account -> path where placed
        self.unit_ids: set[str] = set()

    def policies(self, fields: FieldReader) -> None:
        for item in fields.objects("Policies"):
            item.allow_only(("Id", "Name", "Arn", "Type", "AwsManaged", "Document", "Content"))
            policy_id = item.string("Id", required=True)
            if policy_id is None:
                continue
            if policy_id in self.scp_ids:
                item.bad(item.at("Id"), f"policy id `{policy_id}` is defined twice",
                         "EntityAlreadyExists")  # fmt: skip
                continue
            kind = item.string("Type", _SCP) or _SCP
            if kind not in (_SCP, _RCP):
                msg = f"policy type `{kind}` is not one of `{_SCP}`, `{_RCP}`"
                item.bad(item.at("Type"), msg, "ValidationError")
                continue
            self.scp_ids.add(policy_id)
            key = "Document" if "Document" in item.obj else "Content"
            name = item.string("Name", policy_id) or policy_id
            if kind == _RCP:
                self.rcp_ids.add(policy_id)
                policy, _ = item.policy(key, PolicyType.RCP, f"rcp/{name}")
                if policy is not None:
                    self.rcps[policy_id] = policy
                continue
            policy, _ = item.policy(key, PolicyType.SCP, f"scp/{name}")
            if policy is not None:
                self.scps[policy_id] = policy

    def unit(self, fields: FieldReader, root: bool) -> OrgUnit:
        fields.allow_only(("Id", "Name", "Arn", "PolicyIds", "Accounts", "Children"))
        unit_id = fields.string("Id", required=True) or "?"
        if unit_id in self.unit_ids:
            fields.bad(fields.at("Id"), f"unit id `{unit_id}` is defined twice",
                       "EntityAlreadyExists")  # fmt: skip
        self.unit_ids.add(unit_id)
        policy_ids = self.policy_ids(fields)
        if not [i for i in policy_ids if i not in self.rcp_ids]:
            what = "the root" if root else f"OU `{unit_id}`"
            msg = f"{what} has no SCP attached (AWS requires at least one)"
            fields.bad(fields.at("PolicyIds"), msg, "ValidationError")
        accounts = self.accounts(fields)
        children = tuple(self.unit(child, False) for child in fields.objects("Children"))
        name = fields.string("Name", unit_id) or unit_id
        return OrgUnit(unit_id, name, policy_ids, accounts, children)

    def policy_ids(self, fields: FieldReader) -> tuple[str, ...]:
        ids = fields.strings("PolicyIds")
        for i, policy_id in enumerate(ids):
            if policy_id not in self.scp_ids:
                msg = f"policy `{policy_id}` not found in `Policies`"
                fields.bad(f"{fields.at('PolicyIds')}[{i}]", msg, "NoSuchEntity")
        return tuple(ids)

    def accounts(self, fields: FieldReader) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        raw = fields.obj.get("Accounts", [])
        if not isinstance(raw, list):
            fields.bad(fields.at("Accounts"), "`Accounts` must be a list")
            return out
        for i, entry in enumerate(raw):
            path = f"{fields.at('Accounts')}[{i}]"
            ids: tuple[str, ...] = ()
            if isinstance(entry, str):
                account = entry
            else:
                item = FieldReader(self.problems, self.file, entry, path)
                item.allow_only(("Id", "Name", "PolicyIds"))
                account, ids = item.string("Id", required=True) or "", self.policy_ids(item)
            if not _ACCOUNT_ID.match(account):
                fields.bad(path, f"account id `{account}` must be 12 digits", "ValidationError")
            elif account in self.placed:
                msg = f"account {account} is already placed at {self.placed[account]}"
                fields.bad(path, msg, "EntityAlreadyExists")
            else:
                self.placed[account] = path
                out[account] = ids
        return out


def build_organization(doc: Document, problems: Problems) -> Organization | None:
    """Build the organization. It may hold accounts this repository does not describe."""
    fields = FieldReader(problems, doc.rel, doc.data)
    if not fields.ok:
        return None
    fields.allow_only(("Id", "Arn", "ManagementAccountId", "MasterAccountId", "Policies", "Root"))
    builder = _OrgBuilder(doc, problems)
    builder.policies(fields)
    root_fields = fields.child("Root")
    if root_fields is None:
        fields.bad("$.Root", "missing required field `Root`", "missing_field")
        return None
    root = builder.unit(root_fields, True)
    management = fields.string("ManagementAccountId") or fields.string("MasterAccountId")
    return Organization(
        id=fields.string("Id", "o-unknown") or "o-unknown",
        root=root,
        scps=builder.scps,
        management_account=management,
        source=doc.rel,
        rcps=builder.rcps,
    )

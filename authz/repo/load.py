"""Repository files → ``Repository``, with every problem of the repository collected and sorted.

Owns the meaning of each document kind (users, groups, roles, managed and resource policies,
AWS managed policies, the organization), dangling-reference and duplicate-name checks, and the
IAM quotas (via ``authz.iam.quotas``). Reading files is ``authz.repo.layout``; policy tests are
``authz.repo.policytests``. Imports neither cedarpy nor grpc.

Problem codes: ``MalformedPolicyDocument``, ``NoSuchEntity`` (dangling reference),
``EntityAlreadyExists`` (duplicate name), ``ValidationError`` (bad account id, bad value),
``LimitExceeded`` and the other quota codes, and the file-level codes of ``layout``.

Warnings: AWS managed policies are AWS's, so a problem in one that nothing in the repository
attaches (nor uses as a boundary) is a warning and the policy is left out; it becomes a
problem as soon as something references it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authz import courtesy
from authz.errors import Problem, RepositoryError
from authz.iam.model import PolicyType
from authz.repo.accounts import AccountBuilder, Reference
from authz.repo.entities import (
    Account,
    Group,
    ManagedPolicy,
    Organization,
    Repository,
    Role,
    User,
)
from authz.repo.fields import FieldReader, Problems
from authz.repo.layout import Document, RepoFiles, read_repository
from authz.repo.memo import LoadMemo
from authz.repo.organization import build_organization
from authz.repo.policytests import load_suites

ACCOUNT_ID = re.compile(r"^\d{12}$")


@dataclass
class LoadResult:
    """The outcome of loading: the repository (None when nothing usable) and all problems."""

    repository: Repository | None
    problems: list[Problem] = field(default_factory=list)
    files: RepoFiles | None = None
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.repository is not None


def check_repository(root: Path, memo: LoadMemo | None = None) -> LoadResult:
    """Read and validate the repository at ``root``; never raises for content problems.
    ``memo`` (one per chain of loads, e.g. a ``Reloader``'s) makes the load incremental."""
    if memo is not None:
        memo.begin()
    files = read_repository(root, memo)
    return check_files(files, memo)


def check_files(files: RepoFiles, memo: LoadMemo | None = None) -> LoadResult:
    """Validate what ``read_repository`` read (``memo`` as for ``check_repository``)."""
    problems = Problems(files.problems)
    aws_problems: dict[str, list[Problem]] = {}
    aws_managed = _aws_managed(files.aws_managed, problems, aws_problems)
    accounts: dict[str, Account] = {}
    references: list[Reference] = []
    for acct_files in files.accounts:
        if not ACCOUNT_ID.match(acct_files.id):
            msg = f"account id `{acct_files.id}` must be 12 digits"
            problems.add(acct_files.rel + "/", "", "ValidationError", msg)
            continue
        builder = AccountBuilder(acct_files, problems, memo)
        accounts[acct_files.id] = builder.build()
        references.extend(builder.references)
    organization: Organization | None = None
    courtesy.pause()
    if files.organization is not None:
        organization = build_organization(files.organization, problems)
    courtesy.pause()
    repository = Repository(
        accounts=accounts,
        aws_managed=aws_managed,
        organization=organization,
        content_hash=files.content_hash,
        tests=tuple(load_suites(files.tests, problems)),
    )
    _check_references(repository, references, problems)
    _check_resources(accounts, problems)
    _check_unique_ids(accounts, problems)
    courtesy.pause()
    warnings = _unattached_problems(aws_problems, references, problems)
    courtesy.pause()
    if memo is not None:
        memo.finish()
    courtesy.pause()
    return LoadResult(repository, problems.sorted(), files, warnings)


def load_repository(root: Path, memo: LoadMemo | None = None) -> Repository:
    """Load the repository at ``root`` or raise ``RepositoryError`` listing every problem."""
    result = check_repository(root, memo)
    if result.problems or result.repository is None:
        raise RepositoryError(result.problems)
    return result.repository


def _unattached_problems(
    found: dict[str, list[Problem]], references: list[Reference], problems: Problems
) -> list[Problem]:
    """Problems of AWS managed policies: kept as problems where referenced, else warnings."""
    used = {ref.value for ref in references if ref.kind != "group"}
    warnings: list[Problem] = []
    for arn, items in found.items():
        (problems.items if arn in used else warnings).extend(items)
    return Problems(warnings).sorted()


def _aws_managed(
    docs: list[Document], problems: Problems, found: dict[str, list[Problem]]
) -> dict[str, ManagedPolicy]:
    """AWS managed policies by ARN. Each policy's own problems go to ``found`` under its ARN
    (a warning unless referenced); a duplicate ARN is a problem of the repository."""
    out: dict[str, ManagedPolicy] = {}
    for doc in docs:
        own = Problems()
        fields = FieldReader(own, doc.rel, doc.data)
        if not fields.ok:
            problems.items.extend(own.items)
            continue
        fields.allow_only(("PolicyName", "Arn", "Path", "Document"))
        name = fields.string("PolicyName", Path(doc.rel).stem)
        assert name is not None
        path = fields.string("Path", "/") or "/"
        arn = fields.string("Arn", f"arn:aws:iam::aws:policy{path}{name}")
        assert arn is not None
        if not arn.startswith("arn:aws:iam::aws:policy/"):
            fields.bad("$.Arn", f"AWS managed policy ARN `{arn}` must be arn:aws:iam::aws:policy/…")
        # AWS's: no size quota, and IAM resource types we do not know are AWS's to define.
        policy, _ = fields.policy("Document", PolicyType.MANAGED, arn, aws_owned=True)
        if arn in out or arn in found:
            where = out[arn].source if arn in out else found[arn][0].file
            msg = f"AWS managed policy `{arn}` is already defined in {where}"
            problems.add(doc.rel, "$.Arn", "EntityAlreadyExists", msg)
        elif own.items:
            found[arn] = own.items
        elif policy is not None:
            out[arn] = ManagedPolicy(arn, name, path, policy, doc.rel)
    return out


def _check_references(
    repository: Repository, references: list[Reference], problems: Problems
) -> None:
    for ref in references:
        courtesy.pause()
        if ref.kind == "group":
            account = repository.accounts[ref.account]
            if ref.value.lower() not in account.groups:
                msg = f"group `{ref.value}` not found in account {ref.account}"
                problems.add(ref.file, ref.path, "NoSuchEntity", msg)
            continue
        if repository.managed_policy(ref.value) is None:
            what = "permissions boundary" if ref.kind == "boundary" else "managed policy"
            problems.add(ref.file, ref.path, "NoSuchEntity", f"{what} `{ref.value}` not found")
        elif ref.kind == "policy" and not _policy_usable_from(ref.value, ref.account):
            msg = f"managed policy `{ref.value}` belongs to another account"
            problems.add(ref.file, ref.path, "ValidationError", msg)


def _policy_usable_from(arn: str, account: str) -> bool:
    owner = arn.split(":")[4]
    return owner in ("aws", account)


def _check_resources(accounts: dict[str, Account], problems: Problems) -> None:
    seen: dict[str, str] = {}
    for account in accounts.values():
        for arn, resource in account.resources.items():
            if arn in seen:
                msg = f"a resource policy for `{arn}` is already defined in {seen[arn]}"
                problems.add(resource.source, "$.ResourceArn", "EntityAlreadyExists", msg)
            else:
                seen[arn] = resource.source


def _check_unique_ids(accounts: dict[str, Account], problems: Problems) -> None:
    """A unique id names one user, group or role across the whole repository: credentials and
    resource policies bind to it (a session or access key of one entity must never pass for
    another), so a second entity with the same id is a problem, not a silent overwrite."""
    seen: dict[str, str] = {}
    for account in accounts.values():
        entities: list[tuple[str, User | Group | Role]] = [
            *(("$.UserId", e) for e in account.users.values()),
            *(("$.GroupId", e) for e in account.groups.values()),
            *(("$.RoleId", e) for e in account.roles.values()),
        ]
        for where, entity in entities:
            courtesy.pause()
            first = seen.setdefault(entity.unique_id, entity.arn)
            if first != entity.arn:
                msg = (
                    f"unique id `{entity.unique_id}` of `{entity.arn}` is already used by `{first}`"
                )
                problems.add(entity.source, where, "EntityAlreadyExists", msg)


def describe(problems: list[Problem]) -> str:
    """A human-readable listing, one problem per line, and a summary line."""
    lines = [str(p) for p in problems]
    lines.append(f"{len(problems)} problem(s)" if problems else "repository is valid")
    return "\n".join(lines)


def problem_dict(problem: Problem) -> dict[str, Any]:
    return {
        "File": problem.file,
        "Path": problem.path,
        "Code": problem.code,
        "Message": problem.message,
    }

"""The policy repository: files on disk (``layout``), their meaning and every problem
(``load``, ``accounts``, ``organization``), policy tests (``policytests``), import from AWS
(``importer``) and debounced change events (``watch``). No cedarpy, no grpc."""

from authz.repo.entities import Repository, derive_unique_id
from authz.repo.load import LoadResult, check_repository, load_repository

__all__ = ["LoadResult", "Repository", "check_repository", "derive_unique_id", "load_repository"]

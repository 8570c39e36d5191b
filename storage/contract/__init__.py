"""One small contract per storage concern, each an ABC in a module named after it.

A tenant handle (:class:`storage.base.TenantStore`) holds one implementation of each:

=================  ==============================  =========================================
attribute          contract                        concern
=================  ==============================  =========================================
``records``        :class:`~.records.RecordStore`   the records of the datasheets
``exports``        :class:`~.exports.ExportStore`   bulk export jobs and their one download
``audit``          :class:`~.audit.AuditStore`      writing, reading, redacting, settling
``seals``          :class:`~.seals.SealStore`       signed checkpoints of the audit chain
``access_log``     :class:`~.access_log.AccessLogStore`  who saw what, sign-in history
``users``          :class:`~.users.UserStore`       the tenant's users
``roles``          :class:`~.roles.RoleStore`       role definitions, versions, policy version
``api_keys``       :class:`~.api_keys.ApiKeyStore`  integrators' keys
``credentials``    :class:`~.credentials.CredentialStore`  passwords, TOTP, attempt slots
``sessions``       :class:`~.sessions.SessionStore`  sign-in sessions and refresh secrets
``setup_codes``    :class:`~.setup_codes.SetupCodeStore`  one-time password setup codes
``incidents``      :class:`~.incidents.IncidentStore`  breach incidents, the contact point
``operations``     :class:`~.operations.OperationStore`  persisted GraphQL documents
``reports``        :class:`~.reports.ReportStore`   aggregates, saved definitions, k
``documents``      :class:`~.documents.DocumentCipher`  documents sealed under the tenant key
``erasure``        :class:`~.erasure.SubjectErasure`  erasing one data subject
``termination``    :class:`~.termination.Termination`  the tenant ending its own environment
=================  ==============================  =========================================

and the store of all tenants (:class:`storage.base.Store`) two more, for operators:
``lifecycle`` (:class:`~.lifecycle.TenantLifecycle`) and ``keys``
(:class:`~.keys.MasterKeys`).

Errors, for every method of every contract: ``RegionUnavailableError`` when the tenant's
region does not answer, ``EnclaveError`` ("storage error") for any other failure of the
database or of encryption; never a driver exception (``PyMongoError``, ``EncryptionError``).
The errors a method raises besides these are named in its docstring.
"""

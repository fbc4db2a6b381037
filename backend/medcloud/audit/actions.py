"""The audit log's vocabulary: every action a row may record, in one place (no free-form strings). A new kind
of event gets a member here first; `record_event` refuses anything else. No imports: every app may use it."""

from __future__ import annotations

from enum import StrEnum

# ruff: noqa: S105  (action names such as "auth.password.change" are not passwords)


class AuditAction(StrEnum):
    # accounts: sign-up, sign-in, sessions
    SIGNUP = "auth.signup"
    ACTIVATE = "auth.activate"
    LOGIN = "auth.login"
    LOGIN_FIRST_FACTOR = "auth.login.first_factor"
    LOGIN_LOCKED = "auth.login.locked"
    LOGOUT = "auth.logout"
    SOCIAL_LINK = "auth.social.link"
    PASSWORD_CHANGE = "auth.password.change"
    PASSWORD_RESET = "auth.password.reset"
    USER_UPDATE = "auth.user.update"
    # accounts: personal API tokens, two-factor authentication
    API_TOKEN_CREATE = "auth.api_token.create"
    API_TOKEN_REVOKE = "auth.api_token.revoke"
    TWO_FACTOR_SETUP = "auth.2fa.setup"
    TWO_FACTOR_ENABLE = "auth.2fa.enable"
    TWO_FACTOR_DISABLE = "auth.2fa.disable"
    TWO_FACTOR_VERIFY = "auth.2fa.verify"
    TWO_FACTOR_POLICY = "auth.2fa.policy"
    RECOVERY_CODES = "auth.2fa.recovery_codes"
    RECOVERY_CODE_USED = "auth.2fa.recovery_code_used"
    # accounts: medical certificates
    CERTIFICATE_SUBMIT = "certificate.submit"
    CERTIFICATE_APPROVE = "certificate.approve"
    CERTIFICATE_REJECT = "certificate.reject"
    CERTIFICATE_DOWNLOAD = "certificate.download"
    # pacs: patients and studies
    PATIENT_CREATE = "patient.create"
    PATIENT_LIST = "patient.list"
    PATIENT_VIEW = "patient.view"
    STUDY_UPLOAD = "study.upload"
    STUDY_LIST = "study.list"
    STUDY_VIEW = "study.view"
    STUDY_DELETE = "study.delete"
    STUDY_VIEWER_TOKEN = "study.viewer_token"
    DICOMWEB_READ = "dicomweb.read"
    DICOMWEB_SEARCH = "dicomweb.search"
    ORTHANC_RECONCILE = "orthanc.reconcile"
    ORTHANC_STORAGE_REKEY = "orthanc.storage_rekey"
    # sharing
    STUDY_SHARE = "study.share"
    STUDY_UNSHARE = "study.unshare"
    GROUP_CREATE = "group.create"
    GROUP_INVITE = "group.invite"
    GROUP_REMOVE = "group.remove"
    GROUP_LEAVE = "group.leave"
    # inference: the model registry and jobs
    MODEL_CREATE = "model.create"
    MODEL_UPDATE = "model.update"
    MODEL_FILE_WRITE = "model.file_write"
    MODEL_VERSION_PUBLISH = "model.version_publish"
    MODEL_ROLLBACK = "model.rollback"
    MODEL_SHARE = "model.share"
    MODEL_UNSHARE = "model.unshare"
    MODEL_PUBLICATION = "model.publication"
    JOB_CREATE = "job.create"
    JOB_CANCEL = "job.cancel"
    JOB_RETRY = "job.retry"
    JOB_FINISH = "job.finish"

//! The worker as a Windows service.
//!
//! * Service name `ExchangeConnector` for the default instance, `ExchangeConnector$<instance>` for
//!   others (the `$` form is what Windows itself uses for per-instance services, e.g. SQL Server's).
//! * Display name `Exchange Connector (<instance>)`.
//! * Automatic (delayed) start; restart on failure (after 1 min, 2 min, 5 min; counts reset daily).
//! * Runs as its virtual account `NT SERVICE\<service name>` (least privilege; its own credential
//!   vault, which is why secrets are handed over the control channel).
//! * The SCM starts `exchange-connector-service.exe --instance <i> --config-dir <dir> run --service`.
//!
//! Names are defined on every platform (documentation, tests); the SCM calls exist on Windows only.

/// Service name of the default instance.
pub const SERVICE_NAME: &str = "ExchangeConnector";

/// The service name of an instance.
pub fn service_name(instance: &str) -> String {
    if instance == crate::config::DEFAULT_INSTANCE {
        SERVICE_NAME.to_string()
    } else {
        format!("{SERVICE_NAME}${instance}")
    }
}

/// The display name of an instance.
pub fn display_name(instance: &str) -> String {
    format!("Exchange Connector ({instance})")
}

/// The virtual account the service runs as.
pub fn virtual_account(instance: &str) -> String {
    format!(r"NT SERVICE\{}", service_name(instance))
}

/// The service's description in the Services console.
pub const DESCRIPTION: &str = "Ties Exchange ActiveSync access to Intune enrolment and compliance (open-source successor of the Intune on-premises Exchange connector).";

/// Why a service operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The service control manager refused.
    #[error("{action} the Windows service {name}: {source}")]
    Scm {
        /// What was being done.
        action: &'static str,
        /// Service name.
        name: String,
        /// Cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The data folder's rights could not be set.
    #[error(transparent)]
    Folder(#[from] crate::file_rights::FolderRightsError),
    /// Not on Windows.
    #[error(
        "Windows services exist only on Windows; on Linux use systemd (assets/exchange-connector.service)"
    )]
    NotWindows,
}

#[cfg(windows)]
pub use imp::*;

#[cfg(windows)]
mod imp {
    use super::*;
    use std::ffi::OsString;
    use std::path::Path;
    use std::time::Duration;
    use windows_service::service::{
        ServiceAccess, ServiceAction, ServiceActionType, ServiceErrorControl,
        ServiceFailureActions, ServiceFailureResetPeriod, ServiceInfo, ServiceSidType,
        ServiceStartType, ServiceState, ServiceType,
    };
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    fn scm_err(
        action: &'static str,
        name: &str,
    ) -> impl FnOnce(windows_service::Error) -> ServiceError {
        let name = name.to_string();
        move |e| ServiceError::Scm {
            action,
            name,
            source: Box::new(e),
        }
    }

    fn manager(access: ServiceManagerAccess, name: &str) -> Result<ServiceManager, ServiceError> {
        ServiceManager::local_computer(None::<&str>, access)
            .map_err(scm_err("open the service control manager for", name))
    }

    /// Installs the service for an instance: the executable, its arguments, the account, delayed
    /// automatic start and the restart-on-failure actions.
    pub fn install(
        instance: &str,
        executable: &Path,
        config_dir: &Path,
        local_service: bool,
    ) -> Result<(), ServiceError> {
        let name = service_name(instance);
        let scm = manager(
            ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE,
            &name,
        )?;
        prepare_data_folder(instance, config_dir)?;
        let account = if local_service {
            r"NT AUTHORITY\LocalService".to_string()
        } else {
            virtual_account(instance)
        };
        let info = ServiceInfo {
            name: OsString::from(&name),
            display_name: OsString::from(display_name(instance)),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: executable.to_path_buf(),
            launch_arguments: vec![
                OsString::from("--instance"),
                OsString::from(instance),
                OsString::from("--config-dir"),
                config_dir.as_os_str().to_os_string(),
                OsString::from("run"),
                OsString::from("--service"),
            ],
            dependencies: Vec::new(),
            account_name: Some(OsString::from(account)),
            account_password: None,
        };
        let service = scm
            .create_service(
                &info,
                ServiceAccess::CHANGE_CONFIG | ServiceAccess::START | ServiceAccess::QUERY_STATUS,
            )
            .map_err(scm_err("create", &name))?;
        service
            .set_description(DESCRIPTION)
            .map_err(scm_err("describe", &name))?;
        service
            .set_delayed_auto_start(true)
            .map_err(scm_err("set delayed start of", &name))?;
        // A per-service SID lets the pipe's DACL and file ACLs name the service's own account.
        let _ = service.set_config_service_sid_info(ServiceSidType::Unrestricted);
        let restart = |secs| ServiceAction {
            action_type: ServiceActionType::Restart,
            delay: Duration::from_secs(secs),
        };
        service
            .update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(24 * 3600)),
                reboot_msg: None,
                command: None,
                actions: Some(vec![restart(60), restart(120), restart(300)]),
            })
            .map_err(scm_err("set the recovery actions of", &name))?;
        service
            .set_failure_actions_on_non_crash_failures(true)
            .map_err(scm_err("set the recovery actions of", &name))?;
        Ok(())
    }

    /// Creates the data folder if needed and gives it its protected DACL (SYSTEM and Administrators
    /// full control, the service modify); the service does it again at every start.
    pub fn prepare_data_folder(instance: &str, config_dir: &Path) -> Result<(), ServiceError> {
        let folder_error = |source| crate::file_rights::FolderRightsError::Io {
            action: "set",
            folder: config_dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(config_dir).map_err(folder_error)?;
        crate::file_rights::protect_data_folder(config_dir, &service_name(instance))?;
        Ok(())
    }

    /// Stops (if running) and deletes the service.
    pub fn uninstall(instance: &str) -> Result<(), ServiceError> {
        let name = service_name(instance);
        let scm = manager(ServiceManagerAccess::CONNECT, &name)?;
        let service = scm
            .open_service(
                &name,
                ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
            )
            .map_err(scm_err("open", &name))?;
        if let Ok(status) = service.query_status()
            && status.current_state != ServiceState::Stopped
        {
            let _ = service.stop();
        }
        service.delete().map_err(scm_err("delete", &name))
    }

    /// Starts the service.
    pub fn start(instance: &str) -> Result<(), ServiceError> {
        let name = service_name(instance);
        let scm = manager(ServiceManagerAccess::CONNECT, &name)?;
        let service = scm
            .open_service(&name, ServiceAccess::START)
            .map_err(scm_err("open", &name))?;
        service.start::<&str>(&[]).map_err(scm_err("start", &name))
    }

    /// Asks the service to stop.
    pub fn stop(instance: &str) -> Result<(), ServiceError> {
        let name = service_name(instance);
        let scm = manager(ServiceManagerAccess::CONNECT, &name)?;
        let service = scm
            .open_service(&name, ServiceAccess::STOP)
            .map_err(scm_err("open", &name))?;
        service.stop().map(|_| ()).map_err(scm_err("stop", &name))
    }

    /// The service's state (`Running`, `Stopped`, ...).
    pub fn state(instance: &str) -> Result<String, ServiceError> {
        let name = service_name(instance);
        let scm = manager(ServiceManagerAccess::CONNECT, &name)?;
        let service = scm
            .open_service(&name, ServiceAccess::QUERY_STATUS)
            .map_err(scm_err("open", &name))?;
        let status = service
            .query_status()
            .map_err(scm_err("query the status of", &name))?;
        Ok(format!("{:?}", status.current_state))
    }
}

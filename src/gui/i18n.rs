//! English, French and Dutch text of the setup GUI: one Rust table, looked up by key.
//!
//! A table rather than Fluent: the GUI has no plurals or placeables worth a runtime, no bidi isolation
//! marks can creep into labels, and a missing translation falls back to English at compile-checked keys.
//! Messages from the settings registry and from servers stay as they were written (English, or the
//! server's own words).

use serde::{Deserialize, Serialize};

/// A language of the GUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// French.
    Fr,
    /// Dutch.
    Nl,
}

impl Lang {
    /// Every language, in the order of the language menu.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Fr, Lang::Nl];

    /// The language's own name, for the language menu.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Fr => "Français",
            Lang::Nl => "Nederlands",
        }
    }

    /// The language for a locale tag such as `fr-FR`, `nl_BE.UTF-8` or `en-US` (English otherwise).
    pub fn from_locale(tag: &str) -> Lang {
        let lower = tag.to_ascii_lowercase();
        if lower.starts_with("fr") {
            Lang::Fr
        } else if lower.starts_with("nl") {
            Lang::Nl
        } else {
            Lang::En
        }
    }

    /// The operating system's language: `sys-locale`, else `LANG`, else English.
    pub fn from_os() -> Lang {
        sys_locale::get_locale()
            .or_else(|| std::env::var("LANG").ok())
            .map(|t| Lang::from_locale(&t))
            .unwrap_or_default()
    }
}

/// The text for `key` in `lang`; English when the key has no translation; the key itself when unknown.
pub fn tr(lang: Lang, key: &'static str) -> &'static str {
    let Some(&(_, en, fr, nl)) = TABLE.iter().find(|(k, ..)| *k == key) else {
        return key;
    };
    match lang {
        Lang::En => en,
        Lang::Fr => fr,
        Lang::Nl => nl,
    }
}

/// Whether every key has all three texts (used by a test).
pub fn table_is_complete() -> bool {
    TABLE
        .iter()
        .all(|(_, en, fr, nl)| !en.is_empty() && !fr.is_empty() && !nl.is_empty())
}

/// (key, English, French, Dutch).
static TABLE: &[(&str, &str, &str, &str)] = &[
    (
        "title",
        "Exchange Connector setup",
        "Configuration d'Exchange Connector",
        "Exchange Connector instellen",
    ),
    ("language", "Language", "Langue", "Taal"),
    ("theme", "Theme", "Thème", "Thema"),
    ("theme_light", "Light", "Clair", "Licht"),
    ("theme_dark", "Dark", "Sombre", "Donker"),
    ("nav_setup", "Setup", "Configuration", "Instellen"),
    ("nav_status", "Status", "État", "Status"),
    ("nav_settings", "Settings", "Paramètres", "Instellingen"),
    // Package.
    (
        "sec_package",
        "Connector package",
        "Package du connecteur",
        "Connectorpakket",
    ),
    (
        "package_file",
        "Connector package (.zip)",
        "Package du connecteur (.zip)",
        "Connectorpakket (.zip)",
    ),
    ("browse", "Browse…", "Parcourir…", "Bladeren…"),
    ("package_tenant", "Tenant", "Locataire", "Tenant"),
    ("package_app", "App", "Application", "App"),
    (
        "package_hint",
        "Intune no longer offers this package: make it with `exchange-connector-service onboard` or `package create`, or take another server's. Keep it in a secure folder.",
        "Intune ne fournit plus ce package : créez-le avec `exchange-connector-service onboard` ou `package create`, ou reprenez celui d'un autre serveur. Conservez-le dans un dossier sécurisé.",
        "Intune levert dit pakket niet meer: maak het met `exchange-connector-service onboard` of `package create`, of neem dat van een andere server. Bewaar het in een beveiligde map.",
    ),
    (
        "package_required",
        "Choose the connector package (.zip) downloaded from Intune.",
        "Choisissez le package du connecteur (.zip) téléchargé depuis Intune.",
        "Kies het connectorpakket (.zip) dat u uit Intune hebt gedownload.",
    ),
    // Server.
    (
        "sec_server",
        "Exchange server",
        "Serveur Exchange",
        "Exchange-server",
    ),
    (
        "on_premises",
        "On-premises Microsoft Exchange Server",
        "Serveur Microsoft Exchange sur site",
        "On-premises Microsoft Exchange Server",
    ),
    (
        "hosted",
        "Hosted Microsoft Exchange Server",
        "Serveur Microsoft Exchange hébergé",
        "Gehoste Microsoft Exchange Server",
    ),
    (
        "server_cas",
        "Name or FQDN of a Client Access server",
        "Nom ou nom de domaine complet d'un serveur d'accès au client",
        "Naam of FQDN van een Client Access-server",
    ),
    (
        "server_hosted",
        "Server address",
        "Adresse du serveur",
        "Serveradres",
    ),
    ("advanced", "Advanced", "Avancé", "Geavanceerd"),
    (
        "ps_url",
        "Remote PowerShell URL (optional)",
        "URL PowerShell distante (facultatif)",
        "URL voor externe PowerShell (optioneel)",
    ),
    (
        "ca_file",
        "Trusted CA file (optional)",
        "Fichier d'autorité de certification approuvée (facultatif)",
        "Bestand met vertrouwde CA (optioneel)",
    ),
    // Proxy.
    ("sec_proxy", "Proxy server", "Serveur proxy", "Proxyserver"),
    (
        "proxy_use",
        "Use a proxy server when synchronising mobile device information",
        "Utiliser un serveur proxy lors de la synchronisation des informations de l'appareil mobile",
        "Een proxyserver gebruiken bij het synchroniseren van gegevens van mobiele apparaten",
    ),
    (
        "proxy_host",
        "Proxy server name",
        "Nom du serveur proxy",
        "Naam van de proxyserver",
    ),
    ("proxy_port", "Port number", "Numéro de port", "Poortnummer"),
    (
        "proxy_auth",
        "Use credentials to connect to the proxy server",
        "Utiliser les informations d'identification pour la connexion au serveur proxy",
        "Referenties gebruiken om verbinding te maken met de proxyserver",
    ),
    (
        "proxy_user",
        "Proxy user (domain\\user)",
        "Utilisateur du proxy (domaine\\utilisateur)",
        "Proxygebruiker (domein\\gebruiker)",
    ),
    (
        "proxy_password",
        "Proxy password",
        "Mot de passe du proxy",
        "Proxywachtwoord",
    ),
    // Accounts.
    (
        "sec_exchange_account",
        "Exchange account",
        "Compte Exchange",
        "Exchange-account",
    ),
    (
        "exchange_user",
        "User (domain\\user)",
        "Utilisateur (domaine\\utilisateur)",
        "Gebruiker (domein\\gebruiker)",
    ),
    (
        "exchange_password",
        "Password",
        "Mot de passe",
        "Wachtwoord",
    ),
    (
        "sec_notification",
        "Notification account",
        "Compte de notification",
        "Meldingsaccount",
    ),
    (
        "notification_mailbox",
        "Mailbox",
        "Boîte aux lettres",
        "Postvak",
    ),
    (
        "notification_password",
        "Mailbox password",
        "Mot de passe de la boîte aux lettres",
        "Wachtwoord van het postvak",
    ),
    (
        "notification_hint",
        "Used for Autodiscover and to send notification mail through Exchange Web Services.",
        "Utilisé pour la découverte automatique et pour envoyer les notifications par les services web Exchange.",
        "Gebruikt voor Autodiscover en om meldingen te verzenden via Exchange Web Services.",
    ),
    (
        "password_required",
        "Enter the password.",
        "Saisissez le mot de passe.",
        "Voer het wachtwoord in.",
    ),
    (
        "value_required",
        "Fill in this field.",
        "Remplissez ce champ.",
        "Vul dit veld in.",
    ),
    // Connect.
    ("connect", "Connect", "Se connecter", "Verbinden"),
    ("connecting", "Connecting…", "Connexion…", "Verbinden…"),
    (
        "fix_fields",
        "Correct the fields marked in red, then click Connect again.",
        "Corrigez les champs signalés en rouge, puis cliquez de nouveau sur Se connecter.",
        "Corrigeer de rood gemarkeerde velden en klik opnieuw op Verbinden.",
    ),
    (
        "chk_package",
        "Connector package and certificate",
        "Package du connecteur et certificat",
        "Connectorpakket en certificaat",
    ),
    (
        "chk_server",
        "DNS and TLS to the Exchange server",
        "DNS et TLS vers le serveur Exchange",
        "DNS en TLS naar de Exchange-server",
    ),
    (
        "chk_proxy",
        "Proxy server and its credentials",
        "Serveur proxy et ses informations d'identification",
        "Proxyserver en referenties",
    ),
    (
        "chk_signin",
        "Exchange sign-in",
        "Connexion à Exchange",
        "Aanmelden bij Exchange",
    ),
    (
        "chk_cmdlets",
        "Exchange cmdlet permissions",
        "Autorisations des applets de commande Exchange",
        "Machtigingen voor Exchange-cmdlets",
    ),
    (
        "chk_notify",
        "Autodiscover and EWS for the notification account",
        "Découverte automatique et EWS pour le compte de notification",
        "Autodiscover en EWS voor het meldingsaccount",
    ),
    (
        "chk_intune",
        "Intune sign-in and permissions",
        "Connexion à Intune et autorisations",
        "Aanmelden bij Intune en machtigingen",
    ),
    (
        "chk_save",
        "Save the configuration and the secrets",
        "Enregistrer la configuration et les secrets",
        "Configuratie en geheimen opslaan",
    ),
    (
        "skipped",
        "not checked",
        "non vérifié",
        "niet gecontroleerd",
    ),
    ("why", "Why", "Pourquoi", "Waarom"),
    ("what_to_do", "What to do", "Que faire", "Wat te doen"),
    (
        "replace_title",
        "Replace the existing connector?",
        "Remplacer le connecteur existant ?",
        "De bestaande connector vervangen?",
    ),
    (
        "replace_text",
        "Intune already has a connector for this Exchange organisation. Only one connector can be connected to each organisation: the new connector replaces the original one.",
        "Intune a déjà un connecteur pour cette organisation Exchange. Un seul connecteur peut être connecté à chaque organisation : le nouveau connecteur remplace le connecteur d'origine.",
        "Intune heeft al een connector voor deze Exchange-organisatie. Per organisatie kan maar één connector verbonden zijn: de nieuwe connector vervangt de oorspronkelijke.",
    ),
    ("replace", "Replace", "Remplacer", "Vervangen"),
    ("cancel", "Cancel", "Annuler", "Annuleren"),
    (
        "connected",
        "Connected. The configuration is saved.",
        "Connecté. La configuration est enregistrée.",
        "Verbonden. De configuratie is opgeslagen.",
    ),
    (
        "delete_package_title",
        "Delete the connector package?",
        "Supprimer le package du connecteur ?",
        "Het connectorpakket verwijderen?",
    ),
    (
        "delete_package_text",
        "The package's folder is not a secure location. The package holds the connector's certificate (MicrosoftIntune.accountcert); its certificate is now in the credential store, so delete the package file when you have finished installing your connectors.",
        "Le dossier du package n'est pas un emplacement sécurisé. Le package contient le certificat du connecteur (MicrosoftIntune.accountcert) ; ce certificat est maintenant dans le magasin d'informations d'identification : supprimez le fichier du package quand vous avez terminé d'installer vos connecteurs.",
        "De map van het pakket is geen beveiligde locatie. Het pakket bevat het certificaat van de connector (MicrosoftIntune.accountcert); dat staat nu in de referentieopslag, dus verwijder het pakketbestand wanneer u klaar bent met het installeren van uw connectors.",
    ),
    (
        "delete_package",
        "Delete the package file",
        "Supprimer le fichier du package",
        "Pakketbestand verwijderen",
    ),
    ("keep_package", "Keep it", "Le conserver", "Bewaren"),
    (
        "open_status",
        "Open the status page",
        "Ouvrir la page d'état",
        "Statuspagina openen",
    ),
    // Status.
    (
        "connection_state",
        "Connection state",
        "État de la connexion",
        "Verbindingsstatus",
    ),
    (
        "worker_running",
        "The connector service is running.",
        "Le service du connecteur est en cours d'exécution.",
        "De connectorservice wordt uitgevoerd.",
    ),
    (
        "worker_not_running",
        "The connector service is not running: nothing is synchronised until it runs.",
        "Le service du connecteur n'est pas en cours d'exécution : rien n'est synchronisé tant qu'il ne tourne pas.",
        "De connectorservice wordt niet uitgevoerd: er wordt niets gesynchroniseerd totdat hij draait.",
    ),
    (
        "start_worker",
        "Start the connector service",
        "Démarrer le service du connecteur",
        "Connectorservice starten",
    ),
    (
        "exchange_server_in_use",
        "Exchange server in use",
        "Serveur Exchange utilisé",
        "Gebruikte Exchange-server",
    ),
    (
        "last_quick",
        "Last quick sync",
        "Dernière synchronisation rapide",
        "Laatste snelle synchronisatie",
    ),
    (
        "last_full",
        "Last full sync",
        "Dernière synchronisation complète",
        "Laatste volledige synchronisatie",
    ),
    ("never", "never", "jamais", "nooit"),
    (
        "devices_by_state",
        "Devices by state",
        "Appareils par état",
        "Apparaten per status",
    ),
    (
        "history_title",
        "Decisions of the last full sync, per day",
        "Décisions de la dernière synchronisation complète, par jour",
        "Beslissingen van de laatste volledige synchronisatie, per dag",
    ),
    (
        "recent_changes",
        "Recent access changes",
        "Modifications d'accès récentes",
        "Recente toegangswijzigingen",
    ),
    (
        "no_changes",
        "No access changes yet.",
        "Aucune modification d'accès pour l'instant.",
        "Nog geen toegangswijzigingen.",
    ),
    (
        "held_title",
        "A run is held by the mass-change guard",
        "Une exécution est retenue par la protection contre les modifications massives",
        "Een run wordt tegengehouden door de beveiliging tegen massawijzigingen",
    ),
    ("confirm", "Confirm", "Confirmer", "Bevestigen"),
    (
        "quick_sync",
        "Quick sync",
        "Synchronisation rapide",
        "Snelle synchronisatie",
    ),
    (
        "full_sync",
        "Full sync",
        "Synchronisation complète",
        "Volledige synchronisatie",
    ),
    ("refresh", "Refresh", "Actualiser", "Vernieuwen"),
    (
        "lookup_user",
        "Look up a user",
        "Rechercher un utilisateur",
        "Een gebruiker opzoeken",
    ),
    ("lookup", "Look up", "Rechercher", "Opzoeken"),
    (
        "lookup_none",
        "No device of this user in the latest status.",
        "Aucun appareil de cet utilisateur dans le dernier état.",
        "Geen apparaat van deze gebruiker in de laatste status.",
    ),
    (
        "not_configured",
        "The connector is not configured yet: complete Setup first.",
        "Le connecteur n'est pas encore configuré : terminez d'abord la configuration.",
        "De connector is nog niet ingesteld: voltooi eerst Instellen.",
    ),
    // Settings.
    (
        "settings_intro",
        "Change the proxy or the credentials. The changes are checked like Connect before anything is saved.",
        "Modifiez le proxy ou les informations d'identification. Les modifications sont vérifiées comme lors de la connexion avant tout enregistrement.",
        "Wijzig de proxy of de referenties. De wijzigingen worden net als bij Verbinden gecontroleerd voordat er iets wordt opgeslagen.",
    ),
    (
        "check_and_save",
        "Check and save",
        "Vérifier et enregistrer",
        "Controleren en opslaan",
    ),
    ("saved", "Saved.", "Enregistré.", "Opgeslagen."),
    (
        "not_saved",
        "Nothing was saved.",
        "Rien n'a été enregistré.",
        "Er is niets opgeslagen.",
    ),
    // Settings: tabs, access policy, notification mail, schedule.
    (
        "tab_connection",
        "Proxy and credentials",
        "Proxy et identifiants",
        "Proxy en referenties",
    ),
    (
        "tab_policy",
        "Access policy",
        "Stratégie d'accès",
        "Toegangsbeleid",
    ),
    (
        "tab_notification",
        "Notification mail",
        "Message de notification",
        "Meldingsmail",
    ),
    ("tab_schedule", "Schedule", "Planification", "Planning"),
    (
        "pol_no_file",
        "No policy is saved here yet: until one is saved, the worker applies the default policy (enforcement off). The values below are the defaults.",
        "Aucune stratégie n'est encore enregistrée ici : tant qu'il n'y en a pas, le service applique la stratégie par défaut (application désactivée). Les valeurs ci-dessous sont celles par défaut.",
        "Hier is nog geen beleid opgeslagen: tot er een is opgeslagen, past de service het standaardbeleid toe (handhaving uit). De waarden hieronder zijn de standaardwaarden.",
    ),
    (
        "pol_load_failed",
        "the values below are the defaults; saving replaces the file.",
        "les valeurs ci-dessous sont celles par défaut ; l'enregistrement remplace le fichier.",
        "de waarden hieronder zijn de standaardwaarden; opslaan vervangt het bestand.",
    ),
    (
        "pol_enabled",
        "Enforce the access policy",
        "Appliquer la stratégie d'accès",
        "Het toegangsbeleid afdwingen",
    ),
    (
        "pol_included",
        "Targeted groups (one Entra group object id per line)",
        "Groupes ciblés (un ID d'objet de groupe Entra par ligne)",
        "Doelgroepen (één Entra-groepsobject-id per regel)",
    ),
    (
        "pol_excluded",
        "Exempt groups (one Entra group object id per line)",
        "Groupes exemptés (un ID d'objet de groupe Entra par ligne)",
        "Uitgezonderde groepen (één Entra-groepsobject-id per regel)",
    ),
    (
        "pol_group_bad",
        "Line {line}: '{value}' is not a group object id. Copy the group's Object ID (a GUID such as 00000000-0000-0000-0000-000000000000) from the Entra admin center, Groups, the group's Overview.",
        "Ligne {line} : « {value} » n'est pas un ID d'objet de groupe. Copiez l'ID d'objet du groupe (un GUID tel que 00000000-0000-0000-0000-000000000000) depuis le centre d'administration Entra, Groupes, la vue d'ensemble du groupe.",
        "Regel {line}: '{value}' is geen groepsobject-id. Kopieer de object-id van de groep (een GUID zoals 00000000-0000-0000-0000-000000000000) uit het Entra-beheercentrum, Groepen, het overzicht van de groep.",
    ),
    (
        "pol_unenrolled",
        "Devices not enrolled in Intune",
        "Appareils non inscrits dans Intune",
        "Apparaten die niet in Intune zijn ingeschreven",
    ),
    (
        "pol_noncompliant",
        "Devices that are not compliant",
        "Appareils non conformes",
        "Apparaten die niet compatibel zijn",
    ),
    ("act_allow", "Allow", "Autoriser", "Toestaan"),
    ("act_block", "Block", "Bloquer", "Blokkeren"),
    ("act_quarantine", "Quarantine", "Quarantaine", "Quarantaine"),
    (
        "pol_quarantine_note",
        "Quarantine needs an Exchange organisation rule or default that quarantines; otherwise the connector blocks.",
        "La quarantaine nécessite une règle ou une valeur par défaut de l'organisation Exchange qui met en quarantaine ; sinon le connecteur bloque.",
        "Quarantaine vereist een Exchange-organisatieregel of -standaard die in quarantaine plaatst; anders blokkeert de connector.",
    ),
    (
        "pol_grace",
        "Devices in their compliance grace period count as compliant",
        "Les appareils en période de grâce de conformité comptent comme conformes",
        "Apparaten in hun respijtperiode voor naleving gelden als compatibel",
    ),
    (
        "pol_override",
        "Put every allowed device on the mailbox's allow list (overrides the organisation's rules and default)",
        "Ajouter chaque appareil autorisé à la liste d'autorisation de la boîte aux lettres (prime sur les règles et la valeur par défaut de l'organisation)",
        "Elk toegestaan apparaat op de lijst met toegestane apparaten van het postvak zetten (gaat voor de regels en standaard van de organisatie)",
    ),
    (
        "pol_rollout",
        "Rollout mode: allow every device already syncing before enforcement starts",
        "Mode de déploiement : autoriser tous les appareils qui synchronisent déjà avant le début de l'application",
        "Uitrolmodus: elk apparaat dat al synchroniseert toestaan voordat het afdwingen begint",
    ),
    (
        "pol_unmanaged",
        "Access of devices the connector does not manage (organisation default)",
        "Accès des appareils non gérés par le connecteur (valeur par défaut de l'organisation)",
        "Toegang van apparaten die de connector niet beheert (organisatiestandaard)",
    ),
    (
        "pol_exceptions",
        "Platform exceptions",
        "Exceptions de plateforme",
        "Platformuitzonderingen",
    ),
    ("pe_kind", "Match on", "Critère", "Overeenkomst op"),
    (
        "pe_family",
        "Device family",
        "Famille d'appareils",
        "Apparaatfamilie",
    ),
    (
        "pe_model",
        "Device model",
        "Modèle d'appareil",
        "Apparaatmodel",
    ),
    (
        "pe_name",
        "Family or model",
        "Famille ou modèle",
        "Familie of model",
    ),
    ("pe_access", "Access", "Accès", "Toegang"),
    ("pe_remove", "Remove", "Supprimer", "Verwijderen"),
    (
        "pe_add",
        "Add a platform exception",
        "Ajouter une exception de plateforme",
        "Een platformuitzondering toevoegen",
    ),
    (
        "pol_compliant_beats",
        "An enrolled, compliant device passes a Block or Quarantine platform exception",
        "Un appareil inscrit et conforme passe outre une exception de plateforme Bloquer ou Quarantaine",
        "Een ingeschreven, compatibel apparaat passeert een platformuitzondering Blokkeren of Quarantaine",
    ),
    (
        "pol_threshold",
        "Mass-change guard threshold (%)",
        "Seuil de la protection contre les changements massifs (%)",
        "Drempel van de bescherming tegen massawijzigingen (%)",
    ),
    (
        "pol_threshold_help",
        "A sync that would block or quarantine more than this percentage of the allowed devices waits for your confirmation on the status page.",
        "Une synchronisation qui bloquerait ou mettrait en quarantaine plus que ce pourcentage des appareils autorisés attend votre confirmation sur la page d'état.",
        "Een synchronisatie die meer dan dit percentage van de toegestane apparaten zou blokkeren of in quarantaine plaatsen, wacht op uw bevestiging op de statuspagina.",
    ),
    (
        "pol_threshold_bad",
        "'{value}' is not a percentage from 1 to 100; enter a number such as 10.",
        "« {value} » n'est pas un pourcentage de 1 à 100 ; saisissez un nombre tel que 10.",
        "'{value}' is geen percentage van 1 tot 100; voer een getal in zoals 10.",
    ),
    (
        "tpl_intro",
        "The mail sent to the owner of a device that is blocked or quarantined. Placeholders: {user}, {device} and {enrol_link} (required).",
        "Le message envoyé au propriétaire d'un appareil bloqué ou mis en quarantaine. Espaces réservés : {user}, {device} et {enrol_link} (obligatoire).",
        "De mail aan de eigenaar van een geblokkeerd of in quarantaine geplaatst apparaat. Tijdelijke aanduidingen: {user}, {device} en {enrol_link} (verplicht).",
    ),
    ("tpl_subject", "Subject", "Objet", "Onderwerp"),
    ("tpl_body", "Body (HTML)", "Corps (HTML)", "Inhoud (HTML)"),
    (
        "tpl_reset",
        "Reset to default",
        "Rétablir la valeur par défaut",
        "Standaard herstellen",
    ),
    ("tpl_preview", "Preview", "Aperçu", "Voorbeeld"),
    (
        "tpl_no_preview",
        "No preview until the template is correct.",
        "Pas d'aperçu tant que le modèle n'est pas correct.",
        "Geen voorbeeld zolang de sjabloon niet klopt.",
    ),
    (
        "sch_not_configured",
        "The connector is not configured yet: the schedule can be changed once Setup has saved a configuration.",
        "Le connecteur n'est pas encore configuré : la planification pourra être modifiée une fois la configuration enregistrée.",
        "De connector is nog niet ingesteld: de planning kan worden gewijzigd zodra Instellen een configuratie heeft opgeslagen.",
    ),
    (
        "sch_quick",
        "Quick sync interval (minutes)",
        "Intervalle de synchronisation rapide (minutes)",
        "Interval van snelle synchronisatie (minuten)",
    ),
    (
        "sch_full",
        "Daily full sync time (HH:MM)",
        "Heure de la synchronisation complète quotidienne (HH:MM)",
        "Tijdstip van de dagelijkse volledige synchronisatie (UU:MM)",
    ),
    (
        "pol_save_intro",
        "Save checks the access policy, the notification mail and the schedule together; nothing is saved unless all of them are correct.",
        "Enregistrer vérifie ensemble la stratégie d'accès, le message de notification et la planification ; rien n'est enregistré tant que tout n'est pas correct.",
        "Opslaan controleert het toegangsbeleid, de meldingsmail en de planning samen; er wordt niets opgeslagen tenzij alles klopt.",
    ),
    ("pol_save", "Save", "Enregistrer", "Opslaan"),
    (
        "pol_not_saved",
        "Nothing was saved. Correct these fields:",
        "Rien n'a été enregistré. Corrigez ces champs :",
        "Er is niets opgeslagen. Corrigeer deze velden:",
    ),
    (
        "pol_unchanged",
        "Nothing changed, so nothing was saved.",
        "Rien n'a changé ; rien n'a été enregistré.",
        "Er is niets gewijzigd, dus er is niets opgeslagen.",
    ),
    (
        "pol_saved",
        "The settings are saved.",
        "Les paramètres sont enregistrés.",
        "De instellingen zijn opgeslagen.",
    ),
    (
        "pol_worker_reloaded",
        "The connector service reloads them now.",
        "Le service du connecteur les recharge maintenant.",
        "De connectorservice laadt ze nu opnieuw.",
    ),
    (
        "pol_worker_not_running",
        "The connector service is not running: the new settings apply when it next starts.",
        "Le service du connecteur ne fonctionne pas : les nouveaux paramètres s'appliqueront à son prochain démarrage.",
        "De connectorservice draait niet: de nieuwe instellingen gelden zodra hij weer start.",
    ),
    (
        "pol_worker_refused",
        "The files are saved, but the connector service did not reload them; they apply when it next starts",
        "Les fichiers sont enregistrés, mais le service du connecteur ne les a pas rechargés ; ils s'appliqueront à son prochain démarrage",
        "De bestanden zijn opgeslagen, maar de connectorservice heeft ze niet opnieuw geladen; ze gelden zodra hij weer start",
    ),
    (
        "pol_write_failed",
        "Nothing was saved:",
        "Rien n'a été enregistré :",
        "Er is niets opgeslagen:",
    ),
    // settings
    ("tab_advanced", "Advanced", "Avancé", "Geavanceerd"),
    (
        "adv_intro",
        "Failover, parallel commands and the PowerShell sign-in. The defaults suit most organisations; the text under each setting says when to change it.",
        "Basculement, commandes parallèles et connexion PowerShell. Les valeurs par défaut conviennent à la plupart des organisations ; le texte sous chaque paramètre indique quand le modifier.",
        "Failover, parallelle opdrachten en de PowerShell-aanmelding. De standaardwaarden passen bij de meeste organisaties; de tekst onder elke instelling zegt wanneer u die wijzigt.",
    ),
    (
        "grp_title",
        "Groups by name",
        "Groupes par nom",
        "Groepen op naam",
    ),
    (
        "grp_intro",
        "Search Entra ID for a group by the start of its name, then add it to the targeted or the exempt groups. The policy stores the group's object id.",
        "Cherchez un groupe dans Entra ID par le début de son nom, puis ajoutez-le aux groupes ciblés ou exemptés. La stratégie enregistre l'ID d'objet du groupe.",
        "Zoek in Entra ID een groep op het begin van de naam en voeg die toe aan de beoogde of de uitgezonderde groepen. Het beleid slaat de object-id van de groep op.",
    ),
    (
        "grp_search_label",
        "Group name starts with",
        "Le nom du groupe commence par",
        "Groepsnaam begint met",
    ),
    ("grp_search", "Search", "Rechercher", "Zoeken"),
    (
        "grp_none_found",
        "No group has a name that starts with this text.",
        "Aucun groupe n'a un nom qui commence par ce texte.",
        "Geen groep heeft een naam die met deze tekst begint.",
    ),
    (
        "grp_failed",
        "The search failed:",
        "La recherche a échoué :",
        "Het zoeken is mislukt:",
    ),
    (
        "grp_members",
        "{n} users",
        "{n} utilisateurs",
        "{n} gebruikers",
    ),
    (
        "grp_members_unknown",
        "members unknown",
        "membres inconnus",
        "leden onbekend",
    ),
    ("grp_member_one", "1 user", "1 utilisateur", "1 gebruiker"),
    ("grp_add_included", "Target", "Cibler", "Beogen"),
    ("grp_add_excluded", "Exempt", "Exempter", "Uitzonderen"),
    (
        "grp_chosen_included",
        "Targeted groups:",
        "Groupes ciblés :",
        "Beoogde groepen:",
    ),
    (
        "grp_chosen_excluded",
        "Exempt groups:",
        "Groupes exemptés :",
        "Uitgezonderde groepen:",
    ),
    ("grp_chosen_none", "none", "aucun", "geen"),
    (
        "tpl_account_optional",
        "The notification account is optional: without a notification mailbox (Proxy and credentials), no mail is sent, and the connector still blocks and releases devices.",
        "Le compte de notification est facultatif : sans boîte de notification (Proxy et identifiants), aucun message n'est envoyé, et le connecteur bloque et libère toujours les appareils.",
        "Het meldingsaccount is optioneel: zonder meldingspostvak (Proxy en referenties) wordt geen mail verstuurd, en blokkeert en vrijgeeft de connector apparaten nog steeds.",
    ),
    // wizard steps
    (
        "step_package",
        "Connector package",
        "Package du connecteur",
        "Connectorpakket",
    ),
    (
        "step_server",
        "Exchange server",
        "Serveur Exchange",
        "Exchange-server",
    ),
    ("step_proxy", "Proxy", "Proxy", "Proxy"),
    ("step_accounts", "Accounts", "Comptes", "Accounts"),
    ("step_connect", "Connection", "Connexion", "Verbinding"),
    (
        "step_first_sync",
        "First sync",
        "Première synchronisation",
        "Eerste synchronisatie",
    ),
    ("steps_title", "Setup steps", "Étapes", "Stappen"),
    ("step_word", "Step", "Étape", "Stap"),
    ("back", "Back", "Précédent", "Vorige"),
    ("next", "Next", "Suivant", "Volgende"),
    ("go_to", "Go to", "Aller à", "Ga naar"),
    (
        "next_disabled_hint",
        "Complete this step to continue.",
        "Complétez cette étape pour continuer.",
        "Vul deze stap in om verder te gaan.",
    ),
    (
        "package_step_note",
        "Signing in with an Entra administrator account will come as a step of its own; until then, choose a connector package made by `onboard` or `package create`.",
        "La connexion avec un compte d'administrateur Entra sera une étape à part ; d'ici là, choisissez un package du connecteur créé par `onboard` ou `package create`.",
        "Aanmelden met een Entra-beheerdersaccount wordt een eigen stap; kies tot dan een connectorpakket gemaakt met `onboard` of `package create`.",
    ),
    (
        "hosted_hint",
        "Exchange Online is reached with the connector's app from the package: no server name, Exchange account or password is needed.",
        "Exchange Online est joint avec l'application du connecteur contenue dans le package : aucun nom de serveur, compte Exchange ni mot de passe n'est nécessaire.",
        "Exchange Online wordt bereikt met de app van de connector uit het pakket: er is geen servernaam, Exchange-account of wachtwoord nodig.",
    ),
    (
        "hosted_no_package",
        "Choose the connector package first (step 1).",
        "Choisissez d'abord le package du connecteur (étape 1).",
        "Kies eerst het connectorpakket (stap 1).",
    ),
    (
        "hosted_no_account",
        "Exchange Online: the connector signs in with its app (from the package); no service account is needed.",
        "Exchange Online : le connecteur se connecte avec son application (du package) ; aucun compte de service n'est nécessaire.",
        "Exchange Online: de connector meldt zich aan met zijn app (uit het pakket); er is geen serviceaccount nodig.",
    ),
    (
        "notification_hint_hosted",
        "Exchange Online: mail is sent from this mailbox through Microsoft Graph; no password is needed.",
        "Exchange Online : les messages partent de cette boîte aux lettres par Microsoft Graph ; aucun mot de passe n'est nécessaire.",
        "Exchange Online: e-mail wordt vanuit dit postvak via Microsoft Graph verzonden; er is geen wachtwoord nodig.",
    ),
    (
        "notification_optional",
        "Optional: leave the mailbox empty to send no notification mail.",
        "Facultatif : laissez la boîte aux lettres vide pour n'envoyer aucune notification.",
        "Optioneel: laat het postvak leeg om geen meldingen te verzenden.",
    ),
    (
        "notification_none",
        "No notification mailbox: users get no mail when their device is blocked or quarantined.",
        "Aucune boîte aux lettres de notification : les utilisateurs ne reçoivent aucun message quand leur appareil est bloqué ou mis en quarantaine.",
        "Geen meldingspostvak: gebruikers krijgen geen e-mail wanneer hun apparaat wordt geblokkeerd of in quarantaine wordt geplaatst.",
    ),
    (
        "connect_intro",
        "Connect checks every step for real, one line each; a failed line says what to fix and links to its step.",
        "La connexion vérifie réellement chaque étape, une ligne par vérification ; une ligne en échec indique quoi corriger et mène à son étape.",
        "Verbinden controleert elke stap echt, één regel per controle; een mislukte regel zegt wat u moet herstellen en linkt naar die stap.",
    ),
    (
        "fs_follow",
        "Follow the first sync",
        "Suivre la première synchronisation",
        "Eerste synchronisatie volgen",
    ),
    (
        "fs_intro",
        "The connector service now reads every device from Exchange and Intune and applies the access policy.",
        "Le service du connecteur lit maintenant tous les appareils dans Exchange et Intune et applique la stratégie d'accès.",
        "De connectorservice leest nu alle apparaten uit Exchange en Intune en past het toegangsbeleid toe.",
    ),
    (
        "fs_waiting",
        "Waiting for the connector service…",
        "En attente du service du connecteur…",
        "Wachten op de connectorservice…",
    ),
    ("fs_phase_started", "Started", "Démarrée", "Gestart"),
    (
        "fs_phase_reading",
        "Reading Exchange and Intune",
        "Lecture d'Exchange et d'Intune",
        "Exchange en Intune lezen",
    ),
    ("fs_phase_planning", "Deciding", "Décision", "Beslissen"),
    (
        "fs_phase_applying",
        "Applying changes",
        "Application des changements",
        "Wijzigingen toepassen",
    ),
    ("fs_phase_running", "Running", "En cours", "Bezig"),
    ("fs_phase_stopping", "Stopping", "Arrêt", "Stoppen"),
    ("fs_phase_finished", "Finished", "Terminée", "Voltooid"),
    ("fs_phase_failed", "Failed", "Échec", "Mislukt"),
    ("fs_of", "of", "sur", "van"),
    (
        "fs_no_worker",
        "The connector service does not answer: the first sync runs as soon as it starts (see the status page).",
        "Le service du connecteur ne répond pas : la première synchronisation aura lieu dès son démarrage (voir la page d'état).",
        "De connectorservice antwoordt niet: de eerste synchronisatie start zodra hij draait (zie de statuspagina).",
    ),
    (
        "fs_done",
        "The first full sync is done.",
        "La première synchronisation complète est terminée.",
        "De eerste volledige synchronisatie is klaar.",
    ),
    (
        "fs_failed",
        "The first full sync failed.",
        "La première synchronisation complète a échoué.",
        "De eerste volledige synchronisatie is mislukt.",
    ),
    (
        "fs_held",
        "The mass-change guard holds the first sync's plan: review and confirm it on the status page.",
        "Le garde-fou des changements massifs retient le plan de la première synchronisation : vérifiez-le et confirmez-le sur la page d'état.",
        "De bewaking van massawijzigingen houdt het plan van de eerste synchronisatie vast: controleer en bevestig het op de statuspagina.",
    ),
    (
        "fs_devices_seen",
        "Devices read",
        "Appareils lus",
        "Gelezen apparaten",
    ),
    ("fs_allowed", "Allowed", "Autorisés", "Toegestaan"),
    ("fs_blocked", "Blocked", "Bloqués", "Geblokkeerd"),
    (
        "fs_quarantined",
        "Quarantined",
        "En quarantaine",
        "In quarantaine",
    ),
    ("fs_exempt", "Exempt", "Exemptés", "Uitgezonderd"),
    // devices and status
    ("ago_now", "just now", "à l'instant", "zojuist"),
    (
        "ago_minute",
        "1 minute ago",
        "il y a 1 minute",
        "1 minuut geleden",
    ),
    (
        "ago_minutes",
        "{n} minutes ago",
        "il y a {n} minutes",
        "{n} minuten geleden",
    ),
    ("ago_hour", "1 hour ago", "il y a 1 heure", "1 uur geleden"),
    (
        "ago_hours",
        "{n} hours ago",
        "il y a {n} heures",
        "{n} uur geleden",
    ),
    ("ago_day", "1 day ago", "il y a 1 jour", "1 dag geleden"),
    (
        "ago_days",
        "{n} days ago",
        "il y a {n} jours",
        "{n} dagen geleden",
    ),
    ("state_allowed", "Allowed", "Autorisé", "Toegestaan"),
    ("state_blocked", "Blocked", "Bloqué", "Geblokkeerd"),
    (
        "state_quarantined",
        "Quarantined",
        "En quarantaine",
        "In quarantaine",
    ),
    (
        "state_discovery",
        "Being discovered",
        "En découverte",
        "Wordt ontdekt",
    ),
    ("state_unknown", "Unknown", "Inconnu", "Onbekend"),
    ("decision_allow", "Allow", "Autoriser", "Toestaan"),
    ("decision_block", "Block", "Bloquer", "Blokkeren"),
    (
        "decision_quarantine",
        "Quarantine",
        "Quarantaine",
        "Quarantaine",
    ),
    (
        "decision_untouched",
        "Leave as is",
        "Laisser tel quel",
        "Laten zoals het is",
    ),
    (
        "decision_release",
        "Leave to Exchange",
        "Laisser à Exchange",
        "Aan Exchange overlaten",
    ),
    (
        "decision_none",
        "No decision yet",
        "Pas encore de décision",
        "Nog geen beslissing",
    ),
    ("reason_no_state", "none", "aucun", "geen"),
    (
        "reason_unrecorded",
        "Decided before reasons were recorded: the next sync records it.",
        "Décidé avant l'enregistrement des raisons : la prochaine synchronisation l'enregistre.",
        "Beslist voordat redenen werden vastgelegd: de volgende synchronisatie legt ze vast.",
    ),
    (
        "reason_policy_disabled",
        "The access policy is disabled: the connector leaves the device to Exchange's own rules.",
        "La stratégie d'accès est désactivée : le connecteur laisse l'appareil aux règles d'Exchange.",
        "Het toegangsbeleid is uitgeschakeld: de connector laat het apparaat over aan de regels van Exchange.",
    ),
    (
        "reason_not_targeted",
        "The user is not in an included group (or is in an excluded group): Exchange's own rules apply.",
        "L'utilisateur n'est pas dans un groupe inclus (ou est dans un groupe exclu) : les règles d'Exchange s'appliquent.",
        "De gebruiker zit niet in een opgenomen groep (of zit in een uitgesloten groep): de regels van Exchange gelden.",
    ),
    (
        "reason_activesync_disabled",
        "ActiveSync is disabled for the mailbox: Exchange refuses every device, so the connector changes nothing.",
        "ActiveSync est désactivé pour la boîte aux lettres : Exchange refuse tout appareil, le connecteur ne change rien.",
        "ActiveSync is uitgeschakeld voor het postvak: Exchange weigert elk apparaat, dus de connector wijzigt niets.",
    ),
    (
        "reason_admin_block_list",
        "An Exchange admin put the device on the mailbox's block list; the connector does not remove an entry it did not make.",
        "Un administrateur Exchange a mis l'appareil dans la liste de blocage de la boîte ; le connecteur ne retire pas une entrée qu'il n'a pas créée.",
        "Een Exchange-beheerder heeft het apparaat op de blokkeerlijst van het postvak gezet; de connector verwijdert geen vermelding die hij niet zelf maakte.",
    ),
    (
        "reason_admin_allow_list",
        "An Exchange admin put the device on the mailbox's allow list; the connector respects that exemption.",
        "Un administrateur Exchange a mis l'appareil dans la liste d'autorisation de la boîte ; le connecteur respecte cette exemption.",
        "Een Exchange-beheerder heeft het apparaat op de toestaanlijst van het postvak gezet; de connector respecteert die uitzondering.",
    ),
    (
        "reason_not_enrolled",
        "Not enrolled: no Intune record has this device's EAS id in a complete inventory.",
        "Non inscrit : aucun enregistrement Intune ne porte l'identifiant EAS de cet appareil dans un inventaire complet.",
        "Niet ingeschreven: geen Intune-record heeft de EAS-id van dit apparaat in een volledige inventaris.",
    ),
    (
        "reason_inventory_incomplete",
        "No Intune record found, but the Intune inventory was read incompletely: the device keeps its access.",
        "Aucun enregistrement Intune, mais l'inventaire Intune a été lu partiellement : l'appareil garde son accès.",
        "Geen Intune-record gevonden, maar de Intune-inventaris is onvolledig gelezen: het apparaat houdt zijn toegang.",
    ),
    (
        "reason_eas_only_record",
        "Not enrolled: Intune record {record} is EAS-only (Exchange's report of the phone, not an enrolment).",
        "Non inscrit : l'enregistrement Intune {record} est EAS uniquement (le rapport d'Exchange, pas une inscription).",
        "Niet ingeschreven: Intune-record {record} is alleen EAS (het rapport van Exchange, geen inschrijving).",
    ),
    (
        "reason_compliant",
        "Enrolled in Intune and compliant (record {record}).",
        "Inscrit dans Intune et conforme (enregistrement {record}).",
        "Ingeschreven in Intune en conform (record {record}).",
    ),
    (
        "reason_grace_counted",
        "In its compliance grace period, which the policy counts as compliant (record {record}).",
        "En période de grâce de conformité, que la stratégie compte comme conforme (enregistrement {record}).",
        "In de respijtperiode voor naleving, die het beleid als conform telt (record {record}).",
    ),
    (
        "reason_grace_not_counted",
        "In its compliance grace period, which the policy does not count as compliant (record {record}).",
        "En période de grâce de conformité, que la stratégie ne compte pas comme conforme (enregistrement {record}).",
        "In de respijtperiode voor naleving, die het beleid niet als conform telt (record {record}).",
    ),
    (
        "reason_not_compliant",
        "Not compliant in Intune: compliance state {state} (record {record}).",
        "Non conforme dans Intune : état de conformité {state} (enregistrement {record}).",
        "Niet conform in Intune: nalevingsstatus {state} (record {record}).",
    ),
    (
        "reason_compliance_unknown",
        "Intune's compliance state {state} proves nothing: the device keeps its access (record {record}).",
        "L'état de conformité Intune {state} ne prouve rien : l'appareil garde son accès (enregistrement {record}).",
        "Nalevingsstatus {state} in Intune bewijst niets: het apparaat houdt zijn toegang (record {record}).",
    ),
    (
        "reason_platform_exception",
        "Platform exception '{name}' of the policy: {access}.",
        "Exception de plateforme « {name} » de la stratégie : {access}.",
        "Platformuitzondering '{name}' van het beleid: {access}.",
    ),
    (
        "reason_compliant_beats_platform",
        "Compliant (record {record}): compliant devices pass the platform exception '{name}' in this policy.",
        "Conforme (enregistrement {record}) : les appareils conformes passent l'exception de plateforme « {name} » dans cette stratégie.",
        "Conform (record {record}): conforme apparaten passeren de platformuitzondering '{name}' in dit beleid.",
    ),
    (
        "reason_rollout",
        "Allowed by the rollout (it was syncing before enforcement) until Intune reports it not compliant.",
        "Autorisé par le déploiement (il se synchronisait avant l'application) jusqu'à ce qu'Intune le déclare non conforme.",
        "Toegestaan door de uitrol (het synchroniseerde al vóór de handhaving) tot Intune het niet-conform meldt.",
    ),
    (
        "reason_intune_read_failed",
        "The Intune inventory could not be read completely: the device keeps its access until a complete read decides it.",
        "L'inventaire Intune n'a pas pu être lu entièrement : l'appareil garde son accès jusqu'à une lecture complète.",
        "De Intune-inventaris kon niet volledig worden gelezen: het apparaat houdt zijn toegang tot een volledige lezing beslist.",
    ),
    (
        "reason_blocked_instead_of_quarantine",
        "Quarantine was asked, but Exchange's rules and default would not quarantine this device: blocked instead.",
        "La quarantaine était demandée, mais les règles et le défaut d'Exchange ne mettraient pas cet appareil en quarantaine : bloqué à la place.",
        "Quarantaine was gevraagd, maar de regels en standaard van Exchange zouden dit apparaat niet in quarantaine plaatsen: in plaats daarvan geblokkeerd.",
    ),
    ("col_user", "User", "Utilisateur", "Gebruiker"),
    ("col_phone", "Phone", "Téléphone", "Telefoon"),
    ("col_state", "Exchange", "Exchange", "Exchange"),
    ("col_decision", "Decision", "Décision", "Beslissing"),
    ("col_decided", "Decided", "Décidé", "Beslist"),
    ("col_applied", "Applied", "Appliqué", "Toegepast"),
    ("col_reason", "Reason", "Raison", "Reden"),
    ("dev_search", "Search", "Rechercher", "Zoeken"),
    (
        "dev_search_hint",
        "user or device",
        "utilisateur ou appareil",
        "gebruiker of apparaat",
    ),
    (
        "dev_filter_state",
        "Exchange state",
        "État Exchange",
        "Exchange-status",
    ),
    (
        "dev_all_states",
        "All states",
        "Tous les états",
        "Alle statussen",
    ),
    (
        "dev_count",
        "{shown} of {total} devices",
        "{shown} appareils sur {total}",
        "{shown} van {total} apparaten",
    ),
    ("dev_open_why", "why?", "pourquoi ?", "waarom?"),
    (
        "why_title",
        "Why: {user}",
        "Pourquoi : {user}",
        "Waarom: {user}",
    ),
    ("why_close", "Close", "Fermer", "Sluiten"),
    (
        "why_asking",
        "Asking the connector service…",
        "Interrogation du service du connecteur…",
        "De connectorservice wordt gevraagd…",
    ),
    (
        "why_sync_now",
        "Sync this user now",
        "Synchroniser cet utilisateur",
        "Deze gebruiker nu synchroniseren",
    ),
    (
        "why_sync_started",
        "A quick sync was started; it re-decides the devices that changed, {user}'s among them.",
        "Une synchronisation rapide est lancée ; elle redécide les appareils modifiés, dont ceux de {user}.",
        "Een snelle synchronisatie is gestart; die beslist opnieuw over gewijzigde apparaten, ook die van {user}.",
    ),
    ("why_exchange", "Exchange", "Exchange", "Exchange"),
    ("why_decision", "Connector", "Connecteur", "Connector"),
    ("why_reason", "Why", "Pourquoi", "Waarom"),
    ("tab_overview", "Overview", "Vue d'ensemble", "Overzicht"),
    ("tab_devices", "Devices", "Appareils", "Apparaten"),
    ("outcome_running", "running", "en cours", "bezig"),
    ("outcome_succeeded", "succeeded", "réussie", "geslaagd"),
    ("outcome_failed", "failed", "échouée", "mislukt"),
    (
        "outcome_held",
        "held by the guard",
        "retenue par la protection",
        "tegengehouden door de beveiliging",
    ),
    ("outcome_dry_run", "dry run", "simulation", "proefrun"),
    (
        "conn_not_connected_yet",
        "Not connected yet",
        "Pas encore connecté",
        "Nog niet verbonden",
    ),
    (
        "conn_configured",
        "Configured",
        "Configuré",
        "Geconfigureerd",
    ),
    (
        "conn_not_configured",
        "Not configured",
        "Non configuré",
        "Niet geconfigureerd",
    ),
    ("conn_connected", "Connected", "Connecté", "Verbonden"),
    (
        "conn_failed",
        "Error: {error}",
        "Erreur : {error}",
        "Fout: {error}",
    ),
    (
        "failed_over_from",
        "failed over from {primary}",
        "bascule depuis {primary}",
        "overgeschakeld van {primary}",
    ),
    (
        "kind_quick",
        "Quick sync",
        "Synchronisation rapide",
        "Snelle synchronisatie",
    ),
    (
        "kind_full",
        "Full sync",
        "Synchronisation complète",
        "Volledige synchronisatie",
    ),
    ("phase_started", "started", "démarrée", "gestart"),
    (
        "phase_reading",
        "reading Exchange and Intune",
        "lecture d'Exchange et d'Intune",
        "Exchange en Intune lezen",
    ),
    ("phase_planning", "planning", "planification", "plannen"),
    (
        "phase_applying",
        "applying changes",
        "application des modifications",
        "wijzigingen toepassen",
    ),
    ("phase_running", "running", "en cours", "bezig"),
    ("phase_stopping", "stopping", "arrêt", "stoppen"),
    ("phase_finished", "finished", "terminée", "klaar"),
    ("phase_failed", "failed", "échouée", "mislukt"),
    ("change_allowed", "Allowed", "Autorisé", "Toegestaan"),
    ("change_blocked", "Blocked", "Bloqué", "Geblokkeerd"),
    (
        "change_allow_removed",
        "Allow entry removed",
        "Entrée d'autorisation retirée",
        "Toestaanvermelding verwijderd",
    ),
    (
        "change_block_removed",
        "Block entry removed",
        "Entrée de blocage retirée",
        "Blokkeervermelding verwijderd",
    ),
    (
        "change_refused",
        "{access}: refused by Exchange",
        "{access} : refusé par Exchange",
        "{access}: geweigerd door Exchange",
    ),
    (
        "held_kind_quick",
        "quick sync",
        "synchronisation rapide",
        "snelle synchronisatie",
    ),
    (
        "held_kind_full",
        "full sync",
        "synchronisation complète",
        "volledige synchronisatie",
    ),
    (
        "held_summary",
        "A {kind} held {time} would block or quarantine {restricted} of the {allowed} devices allowed now, and allow {released} of the {restricted_now} devices blocked or quarantined now. Review the devices, then confirm or cancel.",
        "Une {kind} retenue {time} bloquerait ou mettrait en quarantaine {restricted} des {allowed} appareils autorisés, et autoriserait {released} des {restricted_now} appareils bloqués ou en quarantaine. Vérifiez les appareils, puis confirmez ou annulez.",
        "Een {kind} tegengehouden op {time} zou {restricted} van de {allowed} nu toegestane apparaten blokkeren of in quarantaine plaatsen, en {released} van de {restricted_now} nu geblokkeerde of in quarantaine geplaatste apparaten toestaan. Bekijk de apparaten en bevestig of annuleer.",
    ),
    (
        "held_not_listed",
        "This plan was held by an earlier version, which did not list its devices: cancel it and sync again to see them.",
        "Ce plan a été retenu par une version antérieure, qui ne listait pas ses appareils : annulez-le et synchronisez à nouveau pour les voir.",
        "Dit plan is tegengehouden door een eerdere versie die de apparaten niet opsomde: annuleer het en synchroniseer opnieuw om ze te zien.",
    ),
    (
        "held_search",
        "Search the plan",
        "Rechercher dans le plan",
        "Zoeken in het plan",
    ),
    (
        "held_listed",
        "{listed} of {total} devices listed",
        "{listed} appareils listés sur {total}",
        "{listed} van {total} apparaten vermeld",
    ),
    (
        "held_group_restrict",
        "Blocked or quarantined",
        "Bloqués ou en quarantaine",
        "Geblokkeerd of in quarantaine",
    ),
    (
        "held_group_release",
        "Allowed again",
        "De nouveau autorisés",
        "Weer toegestaan",
    ),
    (
        "held_confirm",
        "Confirm: apply to {n} devices",
        "Confirmer : appliquer à {n} appareils",
        "Bevestigen: toepassen op {n} apparaten",
    ),
    // hosted
    (
        "hosted_send_check_note",
        "Connect sends one test message from the notification mailbox to itself (not kept in Sent Items) to prove the app may send as it.",
        "La connexion envoie un message de test de la boîte aux lettres de notification à elle-même (non conservé dans les éléments envoyés) pour prouver que l'application peut envoyer en son nom.",
        "Verbinden stuurt één testbericht van het meldingspostvak naar zichzelf (niet bewaard in Verzonden items) om te bewijzen dat de app namens dit postvak mag verzenden.",
    ),
    (
        "why_eas_protocol",
        "EAS protocol",
        "Protocole EAS",
        "EAS-protocol",
    ),
    (
        "why_eas_refused",
        "{version} is below 16.1: Exchange Online has refused such clients since 1 March 2026, so this phone cannot sync whatever the connector decides. Flagged only, the connector changes nothing; update the mail app or use Outlook.",
        "{version} est inférieur à 16.1 : Exchange Online refuse ces clients depuis le 1er mars 2026, ce téléphone ne peut donc pas se synchroniser quelle que soit la décision du connecteur. Simple signalement, le connecteur ne change rien ; mettez à jour l'application de messagerie ou utilisez Outlook.",
        "{version} is lager dan 16.1: Exchange Online weigert zulke clients sinds 1 maart 2026, dus deze telefoon kan niet synchroniseren, wat de connector ook beslist. Alleen gemarkeerd, de connector verandert niets; werk de e-mailapp bij of gebruik Outlook.",
    ),
    // onboarding sign-in
    (
        "onb_step",
        "Sign in to Microsoft Entra",
        "Se connecter à Microsoft Entra",
        "Aanmelden bij Microsoft Entra",
    ),
    (
        "onb_required",
        "Sign in and create the connector's app first, or choose 'I already have a connector package'.",
        "Connectez-vous et créez d'abord l'application du connecteur, ou choisissez « J'ai déjà un package du connecteur ».",
        "Meld u aan en maak eerst de app van de connector, of kies 'Ik heb al een connectorpakket'.",
    ),
    (
        "onb_tenant_required",
        "Name the tenant: its domain (contoso.onmicrosoft.com) or its id.",
        "Indiquez le locataire : son domaine (contoso.onmicrosoft.com) ou son identifiant.",
        "Geef de tenant op: het domein (contoso.onmicrosoft.com) of de id.",
    ),
    (
        "onb_choice_sign_in",
        "Sign in and let setup create the connector's app",
        "Se connecter et laisser l'installation créer l'application du connecteur",
        "Aanmelden en de installatie de app van de connector laten maken",
    ),
    (
        "onb_choice_package",
        "I already have a connector package",
        "J'ai déjà un package du connecteur",
        "Ik heb al een connectorpakket",
    ),
    (
        "onb_intro",
        "Sign in once as an administrator: setup creates the connector's own app registration, a certificate made on this computer (only its public key is uploaded) and the permissions it needs. The sign-in is used for this only and is not stored.",
        "Connectez-vous une fois en tant qu'administrateur : l'installation crée l'inscription d'application du connecteur, un certificat créé sur cet ordinateur (seule sa clé publique est envoyée) et les autorisations nécessaires. La connexion ne sert qu'à cela et n'est pas conservée.",
        "Meld u één keer aan als beheerder: de installatie maakt de app-registratie van de connector, een certificaat dat op deze computer wordt gemaakt (alleen de openbare sleutel wordt geüpload) en de benodigde machtigingen. De aanmelding dient alleen hiervoor en wordt niet bewaard.",
    ),
    (
        "onb_cloud",
        "Microsoft cloud",
        "Cloud Microsoft",
        "Microsoft-cloud",
    ),
    (
        "onb_cloud_commercial",
        "Commercial (and GCC)",
        "Commercial (et GCC)",
        "Commercieel (en GCC)",
    ),
    (
        "onb_cloud_gcc_high",
        "US Government GCC High",
        "US Government GCC High",
        "US Government GCC High",
    ),
    (
        "onb_cloud_dod",
        "US Government DoD",
        "US Government DoD",
        "US Government DoD",
    ),
    (
        "onb_cloud_china",
        "China (21Vianet)",
        "Chine (21Vianet)",
        "China (21Vianet)",
    ),
    (
        "onb_tenant",
        "Tenant (domain or id)",
        "Locataire (domaine ou identifiant)",
        "Tenant (domein of id)",
    ),
    (
        "onb_hosted",
        "Exchange Online (hosted): also grant Exchange.ManageAsApp",
        "Exchange Online (hébergé) : accorder aussi Exchange.ManageAsApp",
        "Exchange Online (gehost): ook Exchange.ManageAsApp toekennen",
    ),
    (
        "onb_sign_in_browser",
        "Sign in with the browser",
        "Se connecter avec le navigateur",
        "Aanmelden met de browser",
    ),
    (
        "onb_sign_in_device",
        "No browser here: use a device code",
        "Pas de navigateur ici : utiliser un code d'appareil",
        "Geen browser hier: een apparaatcode gebruiken",
    ),
    (
        "onb_roles",
        "Needed: a Global Administrator, or an Application Administrator or Cloud Application Administrator to create the app (then a Privileged Role Administrator grants its permissions).",
        "Requis : un administrateur général, ou un administrateur d'applications ou d'applications cloud pour créer l'application (un administrateur de rôle privilégié accorde alors ses autorisations).",
        "Vereist: een globale beheerder, of een toepassingsbeheerder of cloudtoepassingsbeheerder om de app te maken (een beheerder met bevoorrechte rol kent dan de machtigingen toe).",
    ),
    (
        "onb_waiting_browser",
        "Waiting for the sign-in in the browser…",
        "En attente de la connexion dans le navigateur…",
        "Wachten op de aanmelding in de browser…",
    ),
    (
        "onb_browser_failed",
        "The browser could not be opened",
        "Le navigateur n'a pas pu être ouvert",
        "De browser kon niet worden geopend",
    ),
    (
        "onb_browser_url",
        "If the browser did not open, open this address yourself, or cancel and use a device code:",
        "Si le navigateur ne s'est pas ouvert, ouvrez vous-même cette adresse, ou annulez et utilisez un code d'appareil :",
        "Als de browser niet openging, open dit adres zelf, of annuleer en gebruik een apparaatcode:",
    ),
    (
        "onb_device_open",
        "On any device with a browser, open:",
        "Sur n'importe quel appareil doté d'un navigateur, ouvrez :",
        "Open op een willekeurig apparaat met een browser:",
    ),
    (
        "onb_device_code",
        "and enter this code:",
        "et saisissez ce code :",
        "en voer deze code in:",
    ),
    (
        "onb_waiting_device",
        "Waiting for the sign-in with the code…",
        "En attente de la connexion avec le code…",
        "Wachten op de aanmelding met de code…",
    ),
    ("onb_copy", "Copy", "Copier", "Kopiëren"),
    ("onb_create", "Create", "Créer", "Maken"),
    (
        "onb_consent_needed",
        "An administrator must still grant the permissions.",
        "Un administrateur doit encore accorder les autorisations.",
        "Een beheerder moet de machtigingen nog toekennen.",
    ),
    (
        "onb_consent_role",
        "Who can approve",
        "Qui peut approuver",
        "Wie kan goedkeuren",
    ),
    ("onb_consent_missing", "Missing", "Manquantes", "Ontbrekend"),
    (
        "onb_consent_url",
        "Send them this address (admin consent):",
        "Envoyez-lui cette adresse (consentement administrateur) :",
        "Stuur hun dit adres (beheerderstoestemming):",
    ),
    (
        "onb_consent_waiting",
        "Waiting for the consent, checked again every",
        "En attente du consentement, vérifié à nouveau toutes les",
        "Wachten op de toestemming, opnieuw gecontroleerd elke",
    ),
    (
        "onb_check_again",
        "Check again",
        "Vérifier à nouveau",
        "Opnieuw controleren",
    ),
    (
        "onb_ready",
        "The connector's app is ready:",
        "L'application du connecteur est prête :",
        "De app van de connector is klaar:",
    ),
    (
        "onb_ready_next",
        "Continue with Next: the Exchange server, then Connect checks everything and stores the certificate.",
        "Continuez avec Suivant : le serveur Exchange, puis Connecter vérifie tout et enregistre le certificat.",
        "Ga verder met Volgende: de Exchange-server, daarna controleert Verbinden alles en slaat het certificaat op.",
    ),
    (
        "onb_plan_title",
        "What setup will create",
        "Ce que l'installation va créer",
        "Wat de installatie gaat maken",
    ),
    ("onb_plan_tenant", "Tenant", "Locataire", "Tenant"),
    (
        "onb_plan_app",
        "App registration",
        "Inscription d'application",
        "App-registratie",
    ),
    (
        "onb_plan_permissions",
        "Application permissions:",
        "Autorisations d'application :",
        "Toepassingsmachtigingen:",
    ),
    (
        "onb_plan_consent",
        "Consent: granted now if you are a Global Administrator or Privileged Role Administrator; otherwise setup shows the address for one and waits.",
        "Consentement : accordé maintenant si vous êtes administrateur général ou administrateur de rôle privilégié ; sinon l'installation affiche l'adresse à transmettre et attend.",
        "Toestemming: nu toegekend als u globale beheerder of beheerder met bevoorrechte rol bent; anders toont de installatie het adres voor zo iemand en wacht.",
    ),
    ("onb_plan_actions", "Actions:", "Actions :", "Acties:"),
    (
        "onb_plan_nothing",
        "Nothing: everything is in place.",
        "Rien : tout est en place.",
        "Niets: alles is aanwezig.",
    ),
    // end onboarding sign-in
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_translated_and_locales_map() {
        assert!(table_is_complete());
        assert_eq!(Lang::from_locale("fr-BE"), Lang::Fr);
        assert_eq!(Lang::from_locale("nl_NL.UTF-8"), Lang::Nl);
        assert_eq!(Lang::from_locale("de-DE"), Lang::En);
        assert_eq!(tr(Lang::Fr, "connect"), "Se connecter");
    }

    /// Every key the status page and the device table use, reasons included, is in the table (a
    /// missing key would show as the key itself); `table_is_complete` checks each has all languages.
    #[test]
    fn every_status_and_reason_key_is_in_the_table() {
        let keys = crate::gui::devices::KEYS
            .iter()
            .chain(crate::gui::status::KEYS)
            .chain(&crate::policy::ReasonCode::ALL_KEYS);
        for key in keys {
            assert!(TABLE.iter().any(|(k, ..)| k == key), "{key} is missing");
        }
    }
}

//! English, French and Dutch text of the setup GUI: one Rust table, looked up by key.
//!
//! A table rather than Fluent: the GUI has no plurals or placeables worth a runtime, no bidi isolation
//! marks can creep into labels, and a missing translation falls back to English at compile-checked keys.
//! The settings registry's labels and help and the connection checks' sentences (coded with
//! [`crate::text_code::TextCode`]) are translated here too, each in its own block; words from servers
//! stay as the server wrote them, after a translated sentence.

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
        "The sync of {user}'s devices has started: only this mailbox is read, decided and written.",
        "La synchronisation des appareils de {user} est lancée : seule cette boîte aux lettres est lue, décidée et écrite.",
        "De synchronisatie van de apparaten van {user} is gestart: alleen dit postvak wordt gelezen, beslist en geschreven.",
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
    // sign-in proxy
    ("onb_proxy", "Proxy server", "Serveur proxy", "Proxyserver"),
    (
        "onb_proxy_help",
        "If this server reaches the Internet only through a proxy, set it here: the sign-in and the creation of the app go through it, and the Proxy step shows the same settings.",
        "Si ce serveur n'accède à Internet que par un proxy, indiquez-le ici : la connexion et la création de l'application passent par lui, et l'étape Proxy affiche les mêmes paramètres.",
        "Als deze server het internet alleen via een proxy bereikt, stel die hier in: de aanmelding en het maken van de app gaan erdoorheen, en de stap Proxy toont dezelfde instellingen.",
    ),
    (
        "onb_proxy_invalid",
        "Fix the proxy server's settings first",
        "Corrigez d'abord les paramètres du serveur proxy",
        "Corrigeer eerst de instellingen van de proxyserver",
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
    // ---- w3-i18n: the worker's answer to a status button, framed by a translated sentence ----
    (
        "reply_accepted",
        "The connector service accepted the request:",
        "Le service du connecteur a accepté la demande :",
        "De connectorservice heeft het verzoek aanvaard:",
    ),
    (
        "reply_refused",
        "The connector service refused the request:",
        "Le service du connecteur a refusé la demande :",
        "De connectorservice heeft het verzoek geweigerd:",
    ),
    // ---- end of w3-i18n: the worker's answer ----
];

// ---- w3-i18n: the connection checks' and the settings validators' sentences in French and Dutch ----
// The checks (`crate::connection::checks`, and Connect's own in `gui::connect`) give each detail and fix
// as a `TextCode` (a key, parameters, the English); this block holds French and Dutch by key. A server's
// own words are never here: they are shown as they came, after the translated sentence. A test reads
// the sources for every `coded!` key and fails when one lacks a language.

/// (key, French, Dutch) of the checks' and the validators' sentences.
static CHECK_TEXT: &[(&str, &str, &str)] = &[
    // the setup's import of the retired connector's policy (`LegacyImport::text`)
    (
        "pi_kept_local",
        "politique d'accès : la politique locale {path} est conservée",
        "toegangsbeleid: het lokale beleid {path} is behouden",
    ),
    (
        "pi_imported",
        "politique d'accès : les paramètres de l'ancien connecteur ont été importés d'Intune dans {path} ; vérifiez-les dans la page Paramètres",
        "toegangsbeleid: de instellingen van de oude connector zijn uit Intune geïmporteerd in {path}; controleer ze op de pagina Instellingen",
    ),
    (
        "pi_not_in_tenant",
        "politique d'accès : le tenant ne contient aucun paramètre de l'ancien connecteur ; la politique par défaut (application désactivée) s'applique jusqu'à ce que vous en définissiez une dans la page Paramètres",
        "toegangsbeleid: de tenant bevat geen instellingen van de oude connector; het standaardbeleid (handhaving uit) geldt totdat u er een instelt op de pagina Instellingen",
    ),
    (
        "pi_failed",
        "avertissement : la politique de l'ancien connecteur n'a pas pu être importée d'Intune ({why}) ; la politique par défaut (application désactivée) s'applique jusqu'à ce que vous en définissiez une dans la page Paramètres",
        "waarschuwing: het beleid van de oude connector kon niet uit Intune worden geïmporteerd ({why}); het standaardbeleid (handhaving uit) geldt totdat u er een instelt op de pagina Instellingen",
    ),
    // host names and proxy addresses (`address::check_host`, `ProxyAddressError::text`)
    (
        "ad_host_is_url",
        "« {value} » est une URL ; indiquez seulement le nom du serveur (par exemple cas01.contoso.com)",
        "'{value}' is een URL; geef alleen de naam van de server op (bijvoorbeeld cas01.contoso.com)",
    ),
    (
        "ad_host_has_port",
        "« {value} » contient un port ; indiquez seulement le nom du serveur (par exemple cas01.contoso.com)",
        "'{value}' bevat een poort; geef alleen de naam van de server op (bijvoorbeeld cas01.contoso.com)",
    ),
    (
        "ad_host_invalid",
        "« {value} » n'est pas un nom d'hôte valide ; utilisez des lettres, des chiffres, « - » et des points (par exemple cas01.contoso.com)",
        "'{value}' is geen geldige hostnaam; gebruik letters, cijfers, '-' en punten (bijvoorbeeld cas01.contoso.com)",
    ),
    (
        "ad_proxy_not_address",
        "« {input} » n'est pas une adresse de proxy",
        "'{input}' is geen proxyadres",
    ),
    (
        "ad_proxy_use_form",
        "utilisez hôte:port ou http://hôte:port (par exemple proxy.contoso.com:8080)",
        "gebruik host:poort of http://host:poort (bijvoorbeeld proxy.contoso.com:8080)",
    ),
    (
        "ad_proxy_no_port",
        "« {input} » n'indique aucun port ; ajoutez :PORT à ProxyHost ou renseignez ProxyPort",
        "'{input}' noemt geen poort; voeg :POORT toe aan ProxyHost of stel ProxyPort in",
    ),
    (
        "ad_proxy_port_conflict",
        "ProxyHost « {input} » indique le port {in_host} mais ProxyPort indique {in_setting} ; retirez l'un des deux",
        "ProxyHost '{input}' noemt poort {in_host} maar ProxyPort noemt {in_setting}; verwijder een van beide",
    ),
    (
        "ad_proxy_credentials",
        "« {input} » contient un nom d'utilisateur ou un mot de passe ; mettez l'utilisateur dans ProxyUser et le mot de passe dans le magasin de secrets (ProxyPassword)",
        "'{input}' bevat een gebruikersnaam of wachtwoord; zet de gebruiker in ProxyUser en het wachtwoord in de geheimenopslag (ProxyPassword)",
    ),
    (
        "ad_proxy_no_host",
        "ProxyEnabled vaut true mais ProxyHost est vide ; renseignez ProxyHost ou mettez ProxyEnabled à false",
        "ProxyEnabled is true maar ProxyHost is leeg; stel ProxyHost in of zet ProxyEnabled op false",
    ),
    ("ad_proxy_empty", "elle est vide", "het is leeg"),
    (
        "ad_proxy_scheme",
        "le schéma « {scheme} » n'est pas pris en charge",
        "het schema '{scheme}' wordt niet ondersteund",
    ),
    (
        "ad_proxy_path",
        "une adresse de proxy n'a pas de chemin (les fichiers PAC ne sont pas pris en charge)",
        "een proxyadres heeft geen pad (PAC-bestanden worden niet ondersteund)",
    ),
    (
        "ad_proxy_host_invalid",
        "le nom d'hôte n'est pas valide",
        "de hostnaam is niet geldig",
    ),
    (
        "ad_proxy_port",
        "« {value} » n'est pas un port de 1 à 65535",
        "'{value}' is geen poort van 1 tot 65535",
    ),
    ("ad_proxy_bracket", "« [ » sans « ] »", "'[' zonder ']'"),
    (
        "ad_proxy_not_ipv6",
        "« {value} » n'est pas une adresse IPv6",
        "'{value}' is geen IPv6-adres",
    ),
    (
        "ad_proxy_after_bracket",
        "texte inattendu après « ] »",
        "onverwachte tekst na ']'",
    ),
    (
        "ad_proxy_ipv6_brackets",
        "écrivez une adresse IPv6 entre crochets, par exemple [::1]:8080",
        "schrijf een IPv6-adres tussen haken, bijvoorbeeld [::1]:8080",
    ),
    // the status page's warnings (`StatusReply::warnings`)
    (
        "ex_version_supported",
        "{server} : {product} ({version}) : pris en charge",
        "{server}: {product} ({version}): ondersteund",
    ),
    (
        "ex_version_unknown",
        "{server} : version d'Exchange inconnue « {version} »",
        "{server}: onbekende Exchange-versie '{version}'",
    ),
    (
        "st_exchange_out_of_support",
        "{server} : {product} ({version}) n'est plus pris en charge depuis le {since} ; passez à Exchange Server Subscription Edition (SE), la version prise en charge",
        "{server}: {product} ({version}) wordt sinds {since} niet meer ondersteund; stap over op Exchange Server Subscription Edition (SE), de ondersteunde versie",
    ),
    (
        "st_eas_protocol_refused",
        "{count} appareil(s) ne peuvent pas se synchroniser : leur protocole EAS est inférieur à 16.1, qu'Exchange Online refuse depuis le 1er mars 2026 (simple signalement, le connecteur ne les bloque pas ; `diagnose --user` les nomme ; mettez à jour l'application de messagerie ou utilisez Outlook)",
        "{count} apparaat/apparaten kunnen niet synchroniseren: hun EAS-protocol is lager dan 16.1, dat Exchange Online sinds 1 maart 2026 weigert (alleen gemarkeerd, de connector blokkeert ze niet; `diagnose --user` noemt ze; werk de e-mailapp bij of gebruik Outlook)",
    ),
    (
        "ck_no_proxy",
        "aucun proxy configuré",
        "geen proxy ingesteld",
    ),
    (
        "ck_proxy_invalid",
        "L'adresse du proxy n'est pas valide.",
        "Het proxyadres is niet geldig.",
    ),
    (
        "ck_fix_proxy_host_port",
        "corrigez ProxyHost / ProxyPort",
        "corrigeer ProxyHost / ProxyPort",
    ),
    (
        "ck_secrets_missing",
        "manquants : {list}",
        "ontbreken: {list}",
    ),
    (
        "ck_fix_store_secrets",
        "enregistrez-les avec `exchange-connector-service configure --answers FICHIER --secrets-stdin` (en administrateur pendant que le service tourne : ils sont remis au magasin du service), ou connectez-vous à nouveau dans la configuration",
        "sla ze op met `exchange-connector-service configure --answers BESTAND --secrets-stdin` (als beheerder terwijl de service draait: ze gaan naar de eigen opslag van de service), of maak opnieuw verbinding in de installatie",
    ),
    (
        "ck_secrets_ok",
        "dans {store} : {names}identifiants de l'application",
        "in {store}: {names}aanmeldgegevens van de app",
    ),
    (
        "ck_setup_failed",
        "La connexion ne peut pas être préparée.",
        "De verbinding kan niet worden opgezet.",
    ),
    (
        "ck_fix_setup",
        "corrigez le paramètre nommé (TrustedCaFile doit être un fichier PEM lisible ; le proxy a besoin de son mot de passe), puis vérifiez à nouveau",
        "corrigeer de genoemde instelling (TrustedCaFile moet een leesbaar PEM-bestand zijn; de proxy heeft zijn wachtwoord nodig) en controleer opnieuw",
    ),
    (
        "ck_not_a_url",
        "« {url} » n'est pas une URL",
        "'{url}' is geen URL",
    ),
    (
        "ck_fix_exchange_url",
        "corrigez ExchangeServer / ExchangePowerShellURL ou ExchangeRestBase",
        "corrigeer ExchangeServer / ExchangePowerShellURL of ExchangeRestBase",
    ),
    (
        "ck_dns_by_proxy",
        "{host} : résolu par le proxy",
        "{host}: opgezocht door de proxy",
    ),
    (
        "ck_dns_ok",
        "{host} se résout en {addresses}",
        "{host} verwijst naar {addresses}",
    ),
    (
        "ck_dns_fail",
        "Le nom {host} ne se résout pas.",
        "De naam {host} wordt niet gevonden.",
    ),
    (
        "ck_fix_dns",
        "vérifiez le nom du serveur (le FQDN d'un serveur d'accès client : ExchangeServer / ExchangePowerShellURL) et les serveurs DNS de cet ordinateur",
        "controleer de servernaam (de FQDN van een Client Access-server: ExchangeServer / ExchangePowerShellURL) en de DNS-servers van deze computer",
    ),
    (
        "ck_tls_by_proxy",
        "un proxy est configuré : TLS est négocié à travers lui (voir la vérification du proxy)",
        "er is een proxy ingesteld: TLS wordt via de proxy onderhandeld (zie de proxycontrole)",
    ),
    (
        "ck_ca_unusable",
        "Le fichier d'autorité de certification ne peut pas être utilisé.",
        "Het CA-bestand kan niet worden gebruikt.",
    ),
    (
        "ck_fix_ca",
        "corrigez TrustedCaFile : ce doit être un fichier PEM lisible contenant le certificat de l'AC",
        "corrigeer TrustedCaFile: het moet een leesbaar PEM-bestand met het CA-certificaat zijn",
    ),
    ("ck_fix_url", "corrigez l'URL", "corrigeer de URL"),
    (
        "ck_tls_fail",
        "Pas de connexion sécurisée vers {host}:{port}.",
        "Geen beveiligde verbinding met {host}:{port}.",
    ),
    (
        "ck_fix_host_name",
        "corrigez le nom d'hôte",
        "corrigeer de hostnaam",
    ),
    (
        "ck_tls_ok",
        "{host}:{port} a négocié {version}",
        "{host}:{port} onderhandelde {version}",
    ),
    (
        "ck_fix_reachable",
        "vérifiez que le serveur tourne et est joignable depuis cet ordinateur (pare-feu, port 443)",
        "controleer of de server draait en vanaf deze computer bereikbaar is (firewall, poort 443)",
    ),
    (
        "ck_fix_trust_ca",
        "faites confiance à l'AC du serveur (installez-la, ou indiquez le fichier d'AC : TrustedCaFile) et assurez-vous que le serveur propose TLS 1.2 ou plus récent",
        "vertrouw de CA van de server (installeer ze, of stel het CA-bestand in: TrustedCaFile) en zorg dat de server TLS 1.2 of nieuwer aanbiedt",
    ),
    (
        "ck_fix_firewall",
        "vérifiez le pare-feu",
        "controleer de firewall",
    ),
    (
        "ck_proxy_unusable",
        "Le proxy ne peut pas être utilisé.",
        "De proxy kan niet worden gebruikt.",
    ),
    (
        "ck_fix_proxy_settings",
        "corrigez les paramètres du proxy (ProxyHost, ProxyPort, ProxyUser et son mot de passe)",
        "corrigeer de proxy-instellingen (ProxyHost, ProxyPort, ProxyUser en het wachtwoord)",
    ),
    (
        "ck_proxy_refused",
        "Le proxy {url} a refusé de se connecter à {authority}.",
        "De proxy {url} weigerde verbinding te maken met {authority}.",
    ),
    (
        "ck_fix_proxy_refused",
        "vérifiez le nom, le port et les identifiants du proxy avec votre équipe réseau ; le connecteur ne s'authentifie auprès d'un proxy qu'en Basic",
        "controleer naam, poort en aanmeldgegevens van de proxy met uw netwerkteam; de connector meldt zich bij een proxy alleen met Basic aan",
    ),
    (
        "ck_proxy_tunnel",
        "{url} : tunnel vers {authority} ouvert",
        "{url}: tunnel naar {authority} open",
    ),
    (
        "ck_proxy_tunnel_http",
        "{url} : tunnel ouvert, HTTP {status}",
        "{url}: tunnel open, HTTP {status}",
    ),
    (
        "ck_proxy_tls_fail",
        "Pas de connexion sécurisée à travers le proxy {url}.",
        "Geen beveiligde verbinding via de proxy {url}.",
    ),
    (
        "ck_fix_proxy_reach",
        "vérifiez que le proxy permet à cet ordinateur de joindre le serveur Exchange sur le port 443",
        "controleer of de proxy deze computer de Exchange-server op poort 443 laat bereiken",
    ),
    (
        "ck_not_tried_secrets",
        "pas essayé : les secrets manquent",
        "niet geprobeerd: de geheimen ontbreken",
    ),
    ("ck_not_tried", "pas essayé", "niet geprobeerd"),
    (
        "ck_exchange_unreachable",
        "{url} est injoignable (voir DNS/TLS ci-dessus).",
        "{url} is niet bereikbaar (zie DNS/TLS hierboven).",
    ),
    (
        "ck_fix_start_cas",
        "démarrez le serveur d'accès client ou faites pointer ExchangePowerShellURL vers un serveur qui tourne",
        "start de Client Access-server of laat ExchangePowerShellURL naar een draaiende server wijzen",
    ),
    (
        "ck_signin_ok",
        "une session vers {url} ouverte en tant que {user}",
        "een sessie met {url} geopend als {user}",
    ),
    (
        "ck_fix_remote_powershell",
        "vérifiez que le serveur d'accès client tourne et que le PowerShell distant (/PowerShell/) y est activé",
        "controleer of de Client Access-server draait en externe PowerShell (/PowerShell/) erop aan staat",
    ),
    (
        "ck_fix_exchange_account",
        "vérifiez le nom d'utilisateur du compte Exchange (DOMAINE\\utilisateur, ExchangeUser) et son mot de passe (enregistrez-le à nouveau), que le compte n'est ni verrouillé ni expiré, et PowerShellAuthentication",
        "controleer de gebruikersnaam van het Exchange-account (DOMEIN\\gebruiker, ExchangeUser) en het wachtwoord (sla het opnieuw op), of het account niet geblokkeerd of verlopen is, en PowerShellAuthentication",
    ),
    (
        "ck_signin_fail",
        "La connexion à Exchange en tant que {user} a échoué.",
        "Aanmelden bij Exchange als {user} is mislukt.",
    ),
    (
        "ck_fix_ps_endpoint",
        "vérifiez que le point de terminaison /PowerShell/ du serveur d'accès client répond",
        "controleer of het /PowerShell/-eindpunt van de Client Access-server antwoordt",
    ),
    (
        "ck_cmdlets_ok",
        "toutes les cmdlets requises sont accordées ({n} disponibles)",
        "alle vereiste cmdlets toegestaan ({n} beschikbaar)",
    ),
    (
        "ck_cmdlets_fail",
        "Le compte {user} ne peut pas exécuter toutes les cmdlets dont le connecteur a besoin.",
        "Het account {user} mag niet alle cmdlets uitvoeren die de connector nodig heeft.",
    ),
    (
        "ck_fix_role_group",
        "ajoutez le compte à un groupe de rôles (par ex. Organization Management) ou à une attribution de rôle de gestion qui accorde ces cmdlets",
        "voeg het account toe aan een rollengroep (bv. Organization Management) of een beheerroltoewijzing die deze cmdlets toestaat",
    ),
    (
        "ck_version_none",
        "Get-ExchangeServer n'a listé aucun serveur",
        "Get-ExchangeServer gaf geen server",
    ),
    (
        "ck_version_unread",
        "Get-ExchangeServer n'a pas pu être lu : {error}",
        "Get-ExchangeServer kon niet worden gelezen: {error}",
    ),
    (
        "ck_version_timeout",
        "Get-ExchangeServer n'a pas répondu en {seconds} s",
        "Get-ExchangeServer antwoordde niet binnen {seconds} s",
    ),
    (
        "ck_no_notification_mailbox",
        "pas de NotificationMailbox",
        "geen NotificationMailbox",
    ),
    (
        "ck_graph_route",
        "Exchange Online : les notifications passent par Graph sendMail (EWS y est bloqué depuis le 1er octobre 2026)",
        "Exchange Online: meldingen gaan via Graph sendMail (EWS is daar sinds 1 oktober 2026 geblokkeerd)",
    ),
    (
        "ck_ews_url_set",
        "ExchangeWebServiceURL est défini ({url})",
        "ExchangeWebServiceURL is ingesteld ({url})",
    ),
    (
        "ck_autodiscover_ok",
        "{url} via {via} ({protocol})",
        "{url} via {via} ({protocol})",
    ),
    (
        "ck_autodiscover_fail",
        "La découverte automatique n'a trouvé aucune URL des services web Exchange pour {mailbox}.",
        "Autodiscover vond geen URL van Exchange Web Services voor {mailbox}.",
    ),
    (
        "ck_fix_autodiscover",
        "faites pointer autodiscover.{domain} (ou {domain}) vers un serveur d'accès client en HTTPS, vérifiez l'adresse et le mot de passe de la boîte, ou définissez ExchangeWebServiceURL",
        "laat autodiscover.{domain} (of {domain}) via HTTPS naar een Client Access-server wijzen, controleer adres en wachtwoord van het postvak, of stel ExchangeWebServiceURL in",
    ),
    ("ck_no_ews_url", "pas d'URL EWS", "geen EWS-URL"),
    (
        "ck_ews_refused",
        "EWS sur {url} a refusé le compte de notification {mailbox}.",
        "EWS op {url} weigerde het meldingsaccount {mailbox}.",
    ),
    (
        "ck_fix_notify_password",
        "vérifiez le mot de passe de la boîte de notification (NotificationPassword)",
        "controleer het wachtwoord van het meldingspostvak (NotificationPassword)",
    ),
    (
        "ck_ews_failed",
        "EWS sur {url} a échoué.",
        "EWS op {url} is mislukt.",
    ),
    (
        "ck_fix_ews_vdir",
        "vérifiez le répertoire virtuel EWS sur le serveur d'accès client",
        "controleer de virtuele EWS-map op de Client Access-server",
    ),
    (
        "ck_ews_ok",
        "{url} répond à {mailbox} (HTTP {status})",
        "{url} antwoordt {mailbox} (HTTP {status})",
    ),
    (
        "ck_ews_unreachable",
        "EWS sur {url} est injoignable.",
        "EWS op {url} is niet bereikbaar.",
    ),
    (
        "ck_fix_ews",
        "vérifiez ExchangeWebServiceURL, le mot de passe de la boîte et qu'EWS est activé sur le serveur d'accès client",
        "controleer ExchangeWebServiceURL, het wachtwoord van het postvak en of EWS op de Client Access-server aan staat",
    ),
    (
        "ck_no_graph_notifier",
        "aucun expéditeur Graph n'a été construit",
        "er is geen Graph-verzender gemaakt",
    ),
    (
        "ck_fix_rbac",
        "un administrateur Exchange exécute, dans Exchange Online PowerShell : {scope_command} ; {assignment_command} (RBAC pour les applications ; un changement prend jusqu'à deux heures), ou `exchange-connector-service rbac-mail` le fait quand l'application détient la gestion des rôles dans Exchange",
        "een Exchange-beheerder voert in Exchange Online PowerShell uit: {scope_command} ; {assignment_command} (RBAC voor toepassingen; een wijziging duurt tot twee uur), of `exchange-connector-service rbac-mail` doet het wanneer de app rolbeheer in Exchange heeft",
    ),
    (
        "ck_sendmail_ok",
        "l'application peut envoyer en tant que {mailbox} (un message de vérification est allé à la boîte elle-même, sans copie dans les éléments envoyés)",
        "de app mag verzenden als {mailbox} (een controlebericht ging naar het postvak zelf, zonder kopie in Verzonden items)",
    ),
    (
        "ck_sendmail_denied",
        "Exchange Online a refusé que l'application envoie en tant que {mailbox}.",
        "Exchange Online weigerde de app te laten verzenden als {mailbox}.",
    ),
    (
        "ck_sendmail_fail",
        "Graph n'a pas envoyé de message de vérification en tant que {mailbox}.",
        "Graph verstuurde geen controlebericht als {mailbox}.",
    ),
    (
        "ck_fix_sendmail",
        "vérifiez NotificationMailbox (une boîte de ce locataire) et que Graph est joignable",
        "controleer NotificationMailbox (een postvak in deze tenant) en of Graph bereikbaar is",
    ),
    (
        "ck_mail_send_tenant_wide",
        "L'application peut envoyer en tant que n'importe quelle boîte du locataire, pas seulement la boîte de notification.",
        "De app mag verzenden als elk postvak van de tenant, niet alleen als het meldingspostvak.",
    ),
    (
        "ck_fix_remove_mail_send",
        "retirez le consentement administrateur pour Microsoft Graph Mail.Send de l'application (centre d'administration Entra > Applications d'entreprise > l'application > Autorisations), puis : un administrateur Exchange exécute, dans Exchange Online PowerShell : {scope_command} ; {assignment_command} (RBAC pour les applications ; un changement prend jusqu'à deux heures), ou `exchange-connector-service rbac-mail` le fait quand l'application détient la gestion des rôles dans Exchange",
        "trek de beheerderstoestemming voor Microsoft Graph Mail.Send van de app in (Entra-beheercentrum > Bedrijfstoepassingen > de app > Machtigingen), daarna: een Exchange-beheerder voert in Exchange Online PowerShell uit: {scope_command} ; {assignment_command} (RBAC voor toepassingen; een wijziging duurt tot twee uur), of `exchange-connector-service rbac-mail` doet het wanneer de app rolbeheer in Exchange heeft",
    ),
    (
        "ck_mail_send_scoped",
        "pas de Mail.Send sur tout le locataire : l'application n'envoie que là où RBAC pour les applications le permet ({mailbox})",
        "geen tenantbrede Mail.Send: de app verzendt alleen waar RBAC voor toepassingen het toestaat ({mailbox})",
    ),
    (
        "ck_no_token_roles",
        "Pas de jeton Graph pour lire les autorisations de l'application.",
        "Geen Graph-token om de machtigingen van de app te lezen.",
    ),
    (
        "ck_fix_app_credential",
        "vérifiez les identifiants de l'application (package du connecteur ou ClientSecret)",
        "controleer de aanmeldgegevens van de app (connectorpakket of ClientSecret)",
    ),
    (
        "ck_no_app_credential",
        "aucun identifiant d'application enregistré",
        "geen aanmeldgegevens van de app opgeslagen",
    ),
    (
        "ck_graph_token",
        "jeton pour l'application {app} dans le locataire {tenant}",
        "token voor app {app} in tenant {tenant}",
    ),
    (
        "ck_intune_signin_fail",
        "La connexion à Intune a échoué.",
        "Aanmelden bij Intune is mislukt.",
    ),
    (
        "ck_fix_intune_signin",
        "importez le package actuel du connecteur (ou enregistrez le ClientSecret actuel) ; vérifiez TenantId et ClientId",
        "importeer het huidige connectorpakket (of sla het huidige ClientSecret op); controleer TenantId en ClientId",
    ),
    (
        "ck_fix_grant_devices",
        "accordez à l'application DeviceManagementManagedDevices.Read.All (consentement administrateur)",
        "geef de app DeviceManagementManagedDevices.Read.All (beheerderstoestemming)",
    ),
    (
        "ck_fix_grant_groups",
        "accordez à l'application GroupMember.Read.All (consentement administrateur)",
        "geef de app GroupMember.Read.All (beheerderstoestemming)",
    ),
    (
        "ck_fix_graph_reachable",
        "vérifiez que Graph est joignable",
        "controleer of Graph bereikbaar is",
    ),
    (
        "ck_fix_connector_registrations",
        "vérifiez que le package appartient à ce locataire et que l'application a DeviceManagementServiceConfig.ReadWrite.All avec le consentement administrateur (centre d'administration Intune)",
        "controleer of het pakket bij deze tenant hoort en of de app DeviceManagementServiceConfig.ReadWrite.All met beheerderstoestemming heeft (Intune-beheercentrum)",
    ),
    (
        "ck_graph_read",
        "appareils gérés et inscriptions du connecteur lus ({n})",
        "beheerde apparaten en connectorregistraties gelezen ({n})",
    ),
    (
        "ck_graph_read_groups",
        "appareils gérés, groupes et inscriptions du connecteur lus ({n})",
        "beheerde apparaten, groepen en connectorregistraties gelezen ({n})",
    ),
    (
        "ck_intune_refused",
        "Intune a refusé une lecture dont le connecteur a besoin.",
        "Intune weigerde een leesactie die de connector nodig heeft.",
    ),
    (
        "ck_package_ok",
        "locataire {tenant}, certificat {thumbprint}",
        "tenant {tenant}, certificaat {thumbprint}",
    ),
    (
        "ck_saved",
        "{file} ; secrets : {place}",
        "{file}; geheimen: {place}",
    ),
    (
        "ck_saved_to_worker",
        "{file} ; secrets : le magasin d'identifiants du service du connecteur",
        "{file}; geheimen: de referentieopslag van de connectorservice",
    ),
    (
        "ck_package_unusable",
        "Le package du connecteur ne peut pas être utilisé.",
        "Het connectorpakket kan niet worden gebruikt.",
    ),
    (
        "ck_fix_package_download",
        "Téléchargez à nouveau le package du connecteur de votre locataire depuis le centre d'administration Intune et choisissez ce fichier.",
        "Download het connectorpakket van uw tenant opnieuw uit het Intune-beheercentrum en kies dat bestand.",
    ),
    (
        "ck_package_certificate",
        "Le certificat du package ne peut pas être ouvert.",
        "Het certificaat van het pakket kan niet worden geopend.",
    ),
    (
        "ck_fix_package_repack",
        "Téléchargez à nouveau le package du connecteur ; ne le recompressez pas.",
        "Download het connectorpakket opnieuw; pak het niet opnieuw in.",
    ),
    (
        "ck_fix_ca_field",
        "Indiquez un fichier PEM contenant le certificat de l'AC, ou laissez le champ vide.",
        "Geef een PEM-bestand met het CA-certificaat, of laat het veld leeg.",
    ),
    (
        "ck_config_invalid",
        "La configuration n'est pas valide.",
        "De configuratie is niet geldig.",
    ),
    (
        "ck_fix_fields",
        "Corrigez les champs nommés ci-dessus.",
        "Corrigeer de velden hierboven.",
    ),
    (
        "ck_fix_registration",
        "Vérifiez que le package appartient à ce locataire et que l'application a toujours l'autorisation DeviceManagementServiceConfig.ReadWrite.All avec le consentement administrateur (centre d'administration Intune).",
        "Controleer of het pakket bij deze tenant hoort en of de app nog de machtiging DeviceManagementServiceConfig.ReadWrite.All met beheerderstoestemming heeft (Intune-beheercentrum).",
    ),
    (
        "ck_connector_exists",
        "Intune a déjà un connecteur pour cette organisation.",
        "Intune heeft al een connector voor deze organisatie.",
    ),
    (
        "ck_fix_replace",
        "Cliquez sur Se connecter et choisissez Remplacer pour installer ce connecteur à la place, ou annulez pour garder l'original.",
        "Klik op Verbinden en kies Vervangen om deze connector in de plaats te installeren, of annuleer om de oorspronkelijke te houden.",
    ),
    (
        "ck_connector_not_removed",
        "Le connecteur existant n'a pas pu être retiré d'Intune.",
        "De bestaande connector kon niet uit Intune worden verwijderd.",
    ),
    (
        "ck_record_unbuilt",
        "L'enregistrement du connecteur ne peut pas être construit.",
        "De connectorregistratie kan niet worden opgebouwd.",
    ),
    (
        "ck_fix_bug",
        "Signalez-le comme un bogue.",
        "Meld dit als fout.",
    ),
    (
        "ck_registered",
        "inscrit sous {id}",
        "geregistreerd als {id}",
    ),
    (
        "ck_registered_replacing",
        "inscrit sous {id} (l'original est remplacé)",
        "geregistreerd als {id} (de oorspronkelijke is vervangen)",
    ),
    (
        "ck_register_failed",
        "L'inscription du connecteur dans Intune a échoué.",
        "Het registreren van de connector in Intune is mislukt.",
    ),
    (
        "ck_handoff_refused",
        "Le service du connecteur a refusé les secrets.",
        "De connectorservice weigerde de geheimen.",
    ),
    (
        "ck_fix_service_log",
        "Consultez le journal du service, puis cliquez à nouveau sur Se connecter.",
        "Bekijk het logboek van de service en klik opnieuw op Verbinden.",
    ),
    (
        "ck_handoff_unexpected",
        "Le service du connecteur a donné une réponse inattendue.",
        "De connectorservice gaf een onverwacht antwoord.",
    ),
    (
        "ck_fix_update_service",
        "Mettez à jour le service du connecteur.",
        "Werk de connectorservice bij.",
    ),
    (
        "ck_not_elevated",
        "La configuration ne tourne pas en administrateur.",
        "De installatie draait niet als beheerder.",
    ),
    (
        "ck_fix_run_as_admin",
        "Fermez la configuration et relancez-la avec « Exécuter en tant qu'administrateur ».",
        "Sluit de installatie en start ze opnieuw met 'Als administrator uitvoeren'.",
    ),
    (
        "ck_service_unreachable",
        "Le service du connecteur est injoignable.",
        "De connectorservice is niet bereikbaar.",
    ),
    (
        "ck_fix_start_service",
        "Démarrez le service (services.msc), puis cliquez à nouveau sur Se connecter.",
        "Start de service (services.msc) en klik opnieuw op Verbinden.",
    ),
    (
        "ck_store_unusable",
        "Le magasin d'identifiants ne peut pas être utilisé.",
        "De referentieopslag kan niet worden gebruikt.",
    ),
    (
        "ck_fix_admin",
        "Lancez la configuration en administrateur.",
        "Start de installatie als beheerder.",
    ),
    (
        "ck_config_unwritten",
        "Le fichier de configuration n'a pas pu être écrit.",
        "Het configuratiebestand kon niet worden geschreven.",
    ),
    // The settings registry's validation messages (`crate::settings`).
    (
        "st_empty",
        "est vide ; indiquez une valeur ou retirez la clé pour garder la valeur par défaut",
        "is leeg; geef een waarde of verwijder de sleutel om de standaardwaarde te gebruiken",
    ),
    (
        "st_one_line",
        "doit tenir sur une ligne",
        "moet op één regel staan",
    ),
    (
        "st_port",
        "« {value} » n'est pas un port ; indiquez un nombre de 1 à 65535",
        "'{value}' is geen poort; gebruik een getal van 1 tot 65535",
    ),
    (
        "st_bool",
        "« {value} » n'est pas une valeur oui/non ; indiquez true ou false",
        "'{value}' is geen ja/nee-waarde; gebruik true of false",
    ),
    (
        "st_enum",
        "« {value} » n'est pas parmi {values}",
        "'{value}' is niet een van {values}",
    ),
    (
        "st_number",
        "« {value} » n'est pas un nombre entier de {min} à {max} ; indiquez un nombre dans cet intervalle",
        "'{value}' is geen geheel getal van {min} tot {max}; gebruik een getal in dat bereik",
    ),
    (
        "st_time",
        "« {value} » n'est pas une heure ; indiquez HH:MM sur 24 heures (par exemple 02:00)",
        "'{value}' is geen tijdstip; gebruik UU:MM, 24-uurs (bijvoorbeeld 02:00)",
    ),
    (
        "st_guid",
        "« {value} » n'est pas un GUID ; copiez-le depuis le package du connecteur ou le centre d'administration Entra (par exemple 00000000-0000-0000-0000-000000000000)",
        "'{value}' is geen GUID; kopieer het uit het connectorpakket of het Entra-beheercentrum (bijvoorbeeld 00000000-0000-0000-0000-000000000000)",
    ),
    (
        "st_domain_user",
        "« {value} » doit être DOMAINE\\utilisateur (par exemple CONTOSO\\svc-eas) ou un UPN (svc-eas@contoso.com)",
        "'{value}' moet DOMEIN\\gebruiker zijn (bijvoorbeeld CONTOSO\\svc-eas) of een UPN (svc-eas@contoso.com)",
    ),
    (
        "st_mailbox",
        "« {value} » n'est pas une adresse de messagerie ; indiquez nom@domaine (par exemple notify@contoso.com)",
        "'{value}' is geen e-mailadres; gebruik naam@domein (bijvoorbeeld notify@contoso.com)",
    ),
    (
        "st_url",
        "« {value} » n'est pas une URL ({error}) ; écrivez-la en entier, par exemple https://hôte/chemin",
        "'{value}' is geen URL ({error}); schrijf ze volledig, bijvoorbeeld https://host/pad",
    ),
    (
        "st_https",
        "« {value} » doit utiliser https://",
        "'{value}' moet https:// gebruiken",
    ),
    (
        "st_scheme",
        "« {value} » a le schéma « {scheme} » ; utilisez une URL http:// ou https://",
        "'{value}' heeft schema '{scheme}'; gebruik een http://- of https://-URL",
    ),
    (
        "st_no_host",
        "« {value} » n'a pas de nom d'hôte",
        "'{value}' heeft geen hostnaam",
    ),
    (
        "st_url_credentials",
        "« {value} » contient un nom d'utilisateur ou un mot de passe ; retirez-le (les secrets vont dans le magasin de secrets)",
        "'{value}' bevat een gebruikersnaam of wachtwoord; verwijder die (geheimen horen in de geheimenopslag)",
    ),
    // the secret stores' names (`SecretStore::describe`): French with its article, as the sentences
    // that hold one ("dans {store}") expect
    (
        "ss_credential_manager",
        "le Gestionnaire d'informations d'identification Windows",
        "Windows Referentiebeheer",
    ),
    (
        "ss_secret_service",
        "le trousseau Secret Service",
        "de Secret Service-sleutelhanger",
    ),
    (
        "ss_os_store",
        "le magasin d'informations d'identification du système",
        "de referentieopslag van het besturingssysteem",
    ),
    (
        "ss_secret_file",
        "le fichier de secrets {path}",
        "het geheimenbestand {path}",
    ),
    (
        "ss_vault_sealed",
        "{credentials} (le certificat : chiffré par DPAPI dans {dir})",
        "{credentials} (het certificaat: met DPAPI versleuteld in {dir})",
    ),
    (
        "ss_pending_form",
        "le formulaire (pas encore enregistré)",
        "het formulier (nog niet opgeslagen)",
    ),
    (
        "ck_service_store",
        "le magasin d'informations d'identification du service du connecteur",
        "de referentieopslag van de connectorservice",
    ),
    // the worker's control-channel replies and a run's progress lines (`service::worker`); French
    // run names carry their article ("la synchronisation rapide")
    (
        "wk_quick_sync",
        "la synchronisation rapide",
        "snelle synchronisatie",
    ),
    (
        "wk_full_sync",
        "la synchronisation complète",
        "volledige synchronisatie",
    ),
    (
        "wk_user_sync",
        "la synchronisation de {user}",
        "synchronisatie van {user}",
    ),
    ("wk_run_started", "démarrage de {run}", "{run} gestart"),
    (
        "wk_already_queued",
        "{current} est déjà en cours et {run} est déjà en attente après elle",
        "er loopt al een {current} en er staat al een {run} daarna in de wachtrij",
    ),
    (
        "wk_queued",
        "une synchronisation est déjà en cours ; {run} est mise en attente et s'exécutera ensuite",
        "er loopt al een synchronisatie; de {run} staat in de wachtrij en wordt daarna uitgevoerd",
    ),
    (
        "wk_user_sync_queued",
        "une synchronisation est en cours ; la synchronisation de {user} est mise en attente et s'exécutera ensuite",
        "er loopt een synchronisatie; de synchronisatie van {user} staat in de wachtrij en wordt daarna uitgevoerd",
    ),
    (
        "wk_stopping",
        "le service du connecteur s'arrête",
        "de connectorservice stopt",
    ),
    (
        "wk_not_started",
        "{run} n'a pas démarré : {error}",
        "{run} niet gestart: {error}",
    ),
    (
        "wk_running",
        "lecture d'Exchange et d'Intune, planification et application des modifications",
        "Exchange en Intune lezen, plannen en wijzigingen toepassen",
    ),
    (
        "wk_service_stopping",
        "le service s'arrête ; la synchronisation en cours se termine d'abord",
        "de service stopt; de lopende synchronisatie wordt eerst afgemaakt",
    ),
    (
        "wk_run_finished",
        "{run} {outcome} : appareils synchronisés : {devices}",
        "{run} {outcome}: gesynchroniseerde apparaten: {devices}",
    ),
    ("wk_outcome_succeeded", "a réussi", "geslaagd"),
    (
        "wk_outcome_held",
        "est retenue pour confirmation",
        "wordt tegengehouden tot bevestiging",
    ),
    ("wk_outcome_dry_run", "(simulation)", "(proefrun)"),
    ("wk_outcome_failed", "a échoué", "mislukt"),
    (
        "st_worker_looked_for",
        "recherché à l'adresse {address}",
        "gezocht op {address}",
    ),
    (
        "wk_no_held_plan",
        "aucun plan n'attend de confirmation",
        "er wacht geen plan op bevestiging",
    ),
    (
        "wk_held_dropped",
        "le plan retenu a été abandonné ; la prochaine exécution planifie à nouveau",
        "het tegengehouden plan is verwijderd; de volgende run plant opnieuw",
    ),
    (
        "wk_held_not_dropped",
        "impossible d'abandonner le plan retenu : {error}",
        "het tegengehouden plan kan niet worden verwijderd: {error}",
    ),
    (
        "wk_config_not_applied",
        "la configuration n'a pas été appliquée :\n{errors}",
        "de configuratie is niet toegepast:\n{errors}",
    ),
    (
        "wk_config_saved",
        "configuration enregistrée dans {file} ; elle s'applique à la prochaine exécution",
        "configuratie opgeslagen in {file}; ze geldt vanaf de volgende run",
    ),
    (
        "wk_config_not_saved",
        "la configuration n'a pas été enregistrée : {error}",
        "de configuratie is niet opgeslagen: {error}",
    ),
    (
        "wk_not_a_secret",
        "{key} n'est pas un secret ; appliquez-le comme configuration",
        "{key} is geen geheim; pas het toe als configuratie",
    ),
    (
        "wk_secret_not_stored",
        "enregistrement de {key} impossible : {error}",
        "{key} kan niet worden opgeslagen: {error}",
    ),
    (
        "wk_secrets_stored",
        "enregistrés par le service dans {store} : {names}",
        "door de service opgeslagen in {store}: {names}",
    ),
    (
        "wk_user_unknown",
        "aucun appareil de « {user} » n'est encore connu : vérifiez l'alias ou l'adresse de la boîte aux lettres, ou attendez la prochaine synchronisation",
        "er is nog geen apparaat van '{user}' bekend: controleer de alias of het adres van het postvak, of wacht op de volgende synchronisatie",
    ),
    (
        "wk_status_failed",
        "l'état n'a pas pu être lu : {error}",
        "de status kon niet worden gelezen: {error}",
    ),
    (
        "wk_lookup_failed",
        "la recherche a échoué : {error}",
        "het opzoeken is mislukt: {error}",
    ),
    (
        "wk_device_list_failed",
        "la liste des appareils n'a pas pu être lue : {error}",
        "de lijst met apparaten kon niet worden gelezen: {error}",
    ),
    // onboarding: the plan's lines, the permissions' reasons and the progress lines (`onboarding::apply`),
    // and the consent wait (`gui::wizard::sign_in`); Entra's role names as Entra writes them
    (
        "ob_consent_role",
        "Administrateur de rôle privilégié (ou Administrateur général)",
        "Beheerder met bevoorrechte rol (of Globale beheerder)",
    ),
    (
        "ob_why_devices",
        "lire les appareils gérés par Intune et leur conformité",
        "door Intune beheerde apparaten en hun naleving lezen",
    ),
    (
        "ob_why_groups",
        "lire les membres des groupes ciblés",
        "de leden van de doelgroepen lezen",
    ),
    (
        "ob_why_users",
        "lire les utilisateurs (propriétaires des boîtes aux lettres)",
        "gebruikers lezen (eigenaars van de postvakken)",
    ),
    (
        "ob_why_service_config",
        "inscrire le connecteur et lire les paramètres de l'ancien connecteur",
        "de connector registreren en de instellingen van de oude connector lezen",
    ),
    (
        "ob_why_exchange",
        "exécuter les cmdlets Exchange Online en tant qu'application (plus un rôle Exchange pour son principal de service)",
        "Exchange Online-cmdlets uitvoeren als de app (plus een Exchange-rol voor de service-principal)",
    ),
    (
        "ob_plan_create_app",
        "créer l'inscription d'application « {app} » (étiquette {tag}) avec un nouveau certificat créé sur cet ordinateur ({days} jours ; seule sa clé publique est envoyée)",
        "de app-registratie '{app}' (tag {tag}) maken met een nieuw certificaat dat op deze computer wordt gemaakt ({days} dagen; alleen de openbare sleutel wordt geüpload)",
    ),
    (
        "ob_plan_add_server_key",
        "ajouter le certificat de ce serveur à l'application existante {app_id} (créé sur cet ordinateur, {days} jours ; seule sa clé publique est envoyée, les clés des autres serveurs sont conservées)",
        "het certificaat van deze server toevoegen aan de bestaande app {app_id} (gemaakt op deze computer, {days} dagen; alleen de openbare sleutel wordt geüpload, de sleutels van andere servers blijven behouden)",
    ),
    (
        "ob_plan_create_sp",
        "créer son principal de service (application d'entreprise)",
        "de service-principal maken (bedrijfstoepassing)",
    ),
    (
        "ob_plan_grant",
        "accorder l'autorisation d'application {resource} {permission} ({why})",
        "de toepassingsmachtiging {permission} van {resource} toekennen ({why})",
    ),
    (
        "ob_undoing",
        "annulation de ce que cette exécution a créé",
        "ongedaan maken wat deze run heeft gemaakt",
    ),
    (
        "ob_found_app",
        "inscription d'application {app_id} trouvée, avec le certificat de cet ordinateur",
        "app-registratie {app_id} gevonden, met het certificaat van deze computer",
    ),
    (
        "ob_added_server_key",
        "application {app_id} trouvée, certificat de ce serveur ajouté (empreinte {thumbprint}) ; ses autres clés sont conservées",
        "app {app_id} gevonden, certificaat van deze server toegevoegd (vingerafdruk {thumbprint}); de andere sleutels blijven behouden",
    ),
    (
        "ob_created_app",
        "inscription d'application « {app} » créée (ID client {app_id}) avec le certificat {thumbprint}",
        "app-registratie '{app}' gemaakt (client-id {app_id}) met certificaat {thumbprint}",
    ),
    (
        "ob_created_sp",
        "principal de service {id} créé",
        "service-principal {id} gemaakt",
    ),
    (
        "ob_granted",
        "autorisation {resource} / {permission} accordée",
        "machtiging {resource} / {permission} toegekend",
    ),
    (
        "ob_may_not_grant",
        "le compte connecté ne peut pas accorder {resource} / {permission} : un {role} doit donner son consentement",
        "het aangemelde account mag {resource} / {permission} niet toekennen: een {role} moet toestemming geven",
    ),
    (
        "ob_nothing_to_do",
        "rien à faire : l'application, son certificat et ses autorisations sont en place",
        "niets te doen: de app, het certificaat en de machtigingen zijn aanwezig",
    ),
    (
        "ob_nothing_to_remove",
        "aucune inscription d'application avec l'étiquette {tag} : rien à supprimer",
        "geen app-registratie met tag {tag}: niets te verwijderen",
    ),
    (
        "ob_deleted_sp",
        "principal de service {id} et ses autorisations supprimés",
        "service-principal {id} en de machtigingen ervan verwijderd",
    ),
    (
        "ob_deleted_app",
        "inscription d'application {app_id} supprimée",
        "app-registratie {app_id} verwijderd",
    ),
    (
        "ob_consent_granted",
        "un administrateur a accordé les autorisations",
        "een beheerder heeft de machtigingen toegekend",
    ),
];

/// A coded sentence in `lang`: French or Dutch from [`CHECK_TEXT`], English as the library wrote it;
/// text without a code as written.
pub fn coded_text(lang: Lang, text: &crate::text_code::TextCode) -> String {
    if !text.parts().is_empty() {
        return text
            .parts()
            .iter()
            .map(|part| coded_text(lang, part))
            .collect::<Vec<_>>()
            .join("; ");
    }
    let found = CHECK_TEXT.iter().find(|(k, ..)| text.key == *k);
    let nested = |t: &crate::text_code::TextCode| coded_text(lang, t);
    match (lang, found) {
        (Lang::Fr, Some(&(_, fr, _))) => text.render_with(fr, &nested),
        (Lang::Nl, Some(&(_, _, nl))) => text.render_with(nl, &nested),
        _ => text.english.clone(),
    }
}

/// The sources whose `coded!` sentences the GUI shows (the test reads them for their keys).
#[cfg(test)]
const CODED_SOURCES: [(&str, &str); 16] = [
    ("policy_import.rs", include_str!("../policy_import.rs")),
    (
        "exchange/cmdlets.rs",
        include_str!("../exchange/cmdlets.rs"),
    ),
    ("address.rs", include_str!("../address.rs")),
    (
        "service/messages.rs",
        include_str!("../service/messages.rs"),
    ),
    ("sync/cli.rs", include_str!("../sync/cli.rs")),
    (
        "connection/checks.rs",
        include_str!("../connection/checks.rs"),
    ),
    ("gui/connect.rs", include_str!("connect.rs")),
    (
        "onboarding/server_key.rs",
        include_str!("../onboarding/server_key.rs"),
    ),
    ("settings.rs", include_str!("../settings.rs")),
    ("secrets.rs", include_str!("../secrets.rs")),
    ("win/vault.rs", include_str!("../win/vault.rs")),
    (
        "connection/handoff.rs",
        include_str!("../connection/handoff.rs"),
    ),
    ("service/worker.rs", include_str!("../service/worker.rs")),
    (
        "onboarding/apply.rs",
        include_str!("../onboarding/apply.rs"),
    ),
    ("gui/wizard/sign_in.rs", include_str!("wizard/sign_in.rs")),
    ("gui/status.rs", include_str!("status.rs")),
];
// ---- end of w3-i18n: connection checks ------------------------------------------------------------

// ---- w3-i18n: the settings registry's labels and help in French and Dutch -------------------------
// English is the registry's own (`crate::settings::SETTINGS`, which also writes `docs/settings.md`);
// this block holds only the translations, keyed by setting key. A test checks every setting has both.

/// (setting key, French label, French help, Dutch label, Dutch help).
static SETTING_TEXT: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ExchangeServer",
        "Serveur Exchange",
        "Nom complet (FQDN) du serveur d'accès client auquel le connecteur s'adresse (choisissez celui dont la latence est la plus faible ; dans une organisation mixte 2010/2013, un CAS 2013 ou plus récent).",
        "Exchange-server",
        "FQDN van de Client Access-server waarmee de connector praat (kies die met de laagste latentie; in een gemengde 2010/2013-organisatie een CAS van 2013 of nieuwer).",
    ),
    (
        "ExchangeServerType",
        "Type d'Exchange",
        "OnPremises (PowerShell distant vers le CAS) ou Hosted (REST d'Exchange Online).",
        "Type Exchange",
        "OnPremises (externe PowerShell naar de CAS) of Hosted (REST van Exchange Online).",
    ),
    (
        "ExchangePowerShellURL",
        "URL PowerShell d'Exchange",
        "Point de terminaison PowerShell distant. Laissez vide pour https://<ExchangeServer>/PowerShell/.",
        "PowerShell-URL van Exchange",
        "Eindpunt voor externe PowerShell. Laat leeg voor https://<ExchangeServer>/PowerShell/.",
    ),
    (
        "ExchangeUser",
        "Compte de service Exchange",
        "Compte qui exécute les cmdlets Exchange, sous la forme DOMAINE\\utilisateur ou UPN.",
        "Exchange-serviceaccount",
        "Account dat de Exchange-cmdlets uitvoert, als DOMEIN\\gebruiker of als UPN.",
    ),
    (
        "ExchangePassword",
        "Mot de passe du compte de service Exchange",
        "Mot de passe d'ExchangeUser. Conservé dans le magasin de secrets.",
        "Wachtwoord van het Exchange-serviceaccount",
        "Wachtwoord van ExchangeUser. Bewaard in de geheimenopslag.",
    ),
    (
        "PowerShellAuthentication",
        "Authentification PowerShell",
        "Comment le connecteur se connecte au PowerShell distant : Kerberos, Negotiate ou Basic (Basic uniquement en https).",
        "PowerShell-verificatie",
        "Hoe de connector zich aanmeldt bij externe PowerShell: Kerberos, Negotiate of Basic (Basic alleen via https).",
    ),
    (
        "PowerShellPath",
        "Programme PowerShell",
        "powershell.exe ou pwsh pour exécuter le pont. Laissez vide pour le chercher dans le PATH.",
        "PowerShell-programma",
        "powershell.exe of pwsh om de brug mee uit te voeren. Laat leeg om het in het PATH te zoeken.",
    ),
    (
        "IsCasFailoverEnabled",
        "Basculement CAS",
        "Découvrir les autres serveurs d'accès client et basculer vers eux quand celui configuré est arrêté.",
        "CAS-failover",
        "De andere Client Access-servers ontdekken en naar ze overschakelen als de ingestelde server uitvalt.",
    ),
    (
        "EnableParallelCommandSupport",
        "Commandes parallèles",
        "Exécuter plusieurs runspaces PowerShell en parallèle (conseillé à partir de 5 000 appareils ; utilisez un compte dédié). Redémarrez le service après une modification.",
        "Parallelle opdrachten",
        "Meerdere PowerShell-runspaces parallel uitvoeren (aangeraden vanaf 5.000 apparaten; gebruik een apart account). Start de service opnieuw na een wijziging.",
    ),
    (
        "MaxRunspaces",
        "Nombre maximal de runspaces",
        "Limite des runspaces parallèles quand les commandes parallèles sont activées ; gardez-la sous le PowerShellMaxConcurrency du compte (18 par défaut).",
        "Maximaal aantal runspaces",
        "Bovengrens voor parallelle runspaces als parallelle opdrachten aan staan; houd die onder de PowerShellMaxConcurrency van het account (standaard 18).",
    ),
    (
        "NotificationMailbox",
        "Boîte aux lettres de notification",
        "Boîte aux lettres qui envoie les messages de notification (son UPN doit être égal à son adresse SMTP). Laissez vide pour n'envoyer aucun message.",
        "Meldingspostvak",
        "Postvak dat de meldingsberichten verstuurt (de UPN moet gelijk zijn aan het SMTP-adres). Laat leeg om geen berichten te versturen.",
    ),
    (
        "NotificationPassword",
        "Mot de passe de la boîte de notification",
        "Mot de passe de la boîte aux lettres de notification. Conservé dans le magasin de secrets.",
        "Wachtwoord van het meldingspostvak",
        "Wachtwoord van het meldingspostvak. Bewaard in de geheimenopslag.",
    ),
    (
        "NotificationLanguage",
        "Langue des notifications",
        "Langue des messages envoyés aux utilisateurs : en, fr ou nl.",
        "Taal van de meldingen",
        "Taal van de berichten aan gebruikers: en, fr of nl.",
    ),
    (
        "ExchangeWebServiceURL",
        "URL EWS",
        "Fixe l'URL EWS (https://<hôte>/EWS/Exchange.asmx) ; les notifications se passent alors de la découverte automatique.",
        "EWS-URL",
        "Legt de EWS-URL vast (https://<host>/EWS/Exchange.asmx); meldingen slaan Autodiscover dan over.",
    ),
    (
        "AutodiscoverRedirectHosts",
        "Hôtes de redirection de la découverte automatique",
        "Hôtes hors du domaine de la boîte de notification vers lesquels la découverte automatique peut rediriger (HTTPS uniquement), par ex. autodiscover.contoso-mail.com. Les hôtes du domaine de la boîte sont toujours admis ; toute autre redirection est refusée.",
        "Autodiscover-omleidingshosts",
        "Hosts buiten het domein van het meldingspostvak waarnaar Autodiscover mag omleiden (alleen HTTPS), bv. autodiscover.contoso-mail.com. Hosts van het domein van het postvak zijn altijd toegestaan; elke andere omleiding wordt geweigerd.",
    ),
    (
        "TrustedCaFile",
        "Fichier d'autorité de certification supplémentaire",
        "Fichier PEM d'une autorité de certification à approuver en plus du magasin du système (pour une AC interne). TLS est toujours vérifié.",
        "Extra vertrouwd CA-bestand",
        "PEM-bestand van een certificeringsinstantie die naast de opslag van het besturingssysteem wordt vertrouwd (voor een interne CA). TLS wordt altijd gecontroleerd.",
    ),
    (
        "ProxyEnabled",
        "Utiliser un proxy",
        "Faire passer chaque appel HTTP sortant par le proxy ci-dessous (le proxy du système n'est jamais lu).",
        "Een proxy gebruiken",
        "Elke uitgaande HTTP-aanroep via de proxy hieronder sturen (de systeemproxy wordt nooit gelezen).",
    ),
    (
        "ProxyHost",
        "Proxy",
        "Proxy sous la forme hôte, hôte:port, [IPv6]:port ou http://hôte:port.",
        "Proxy",
        "Proxy als host, host:poort, [IPv6]:poort of http://host:poort.",
    ),
    (
        "ProxyPort",
        "Port du proxy",
        "Port du proxy, si ProxyHost n'en indique pas.",
        "Proxypoort",
        "Poort van de proxy, als ProxyHost er geen noemt.",
    ),
    (
        "ProxyUser",
        "Utilisateur du proxy",
        "Utilisateur pour l'authentification Basic au proxy (DOMAINE\\utilisateur ou utilisateur). Laissez vide quand le proxy laisse passer cet hôte.",
        "Proxygebruiker",
        "Gebruiker voor Basic-verificatie bij de proxy (DOMEIN\\gebruiker of gebruiker). Laat leeg als de proxy deze host doorlaat.",
    ),
    (
        "ProxyPassword",
        "Mot de passe du proxy",
        "Mot de passe de ProxyUser. Conservé dans le magasin de secrets.",
        "Proxywachtwoord",
        "Wachtwoord van ProxyUser. Bewaard in de geheimenopslag.",
    ),
    (
        "QuickSyncIntervalMinutes",
        "Intervalle de synchronisation rapide (minutes)",
        "Minutes entre deux synchronisations rapides.",
        "Interval snelle synchronisatie (minuten)",
        "Minuten tussen twee snelle synchronisaties.",
    ),
    (
        "FullSyncTime",
        "Heure de la synchronisation complète",
        "Heure locale de la synchronisation complète quotidienne, HH:MM.",
        "Tijdstip volledige synchronisatie",
        "Lokale tijd van de dagelijkse volledige synchronisatie, UU:MM.",
    ),
    (
        "TenantId",
        "ID du locataire",
        "ID du locataire Entra (GUID), tiré du package du connecteur.",
        "Tenant-id",
        "Entra-tenant-id (GUID), uit het connectorpakket.",
    ),
    (
        "ClientId",
        "ID d'application (client)",
        "ID de l'application sous laquelle le connecteur se connecte (GUID), tiré du package du connecteur.",
        "Toepassings-id (client)",
        "Id van de toepassing waarmee de connector zich aanmeldt (GUID), uit het connectorpakket.",
    ),
    (
        "ApplicationObjectId",
        "ID d'objet de l'application",
        "ID d'objet de l'inscription d'application du connecteur, écrit par l'intégration ; avec lui, le service renouvelle lui-même son certificat (Graph addKey/removeKey) à partir de 30 jours avant l'expiration.",
        "Object-ID van de toepassing",
        "Object-ID van de app-registratie van de connector, geschreven door de onboarding; daarmee vernieuwt de service zelf zijn certificaat (Graph addKey/removeKey) vanaf 30 dagen voor het verlopen.",
    ),
    (
        "ClientSecret",
        "Secret client",
        "Secret client de l'application, si elle se connecte avec un secret plutôt qu'avec le certificat du package. Conservé dans le magasin de secrets.",
        "Clientgeheim",
        "Clientgeheim van de toepassing, als die zich aanmeldt met een geheim in plaats van met het certificaat van het pakket. Bewaard in de geheimenopslag.",
    ),
    (
        "ClientCertificate",
        "Certificat client",
        "Le certificat du package avec sa clé (PFX, base64). Défini en important le package du connecteur. Conservé dans le magasin de secrets.",
        "Clientcertificaat",
        "Het certificaat van het pakket met zijn sleutel (PFX, base64). Ingesteld door het connectorpakket te importeren. Bewaard in de geheimenopslag.",
    ),
    (
        "CertificatePassword",
        "Mot de passe du certificat",
        "Mot de passe de ClientCertificate. Conservé dans le magasin de secrets.",
        "Certificaatwachtwoord",
        "Wachtwoord van ClientCertificate. Bewaard in de geheimenopslag.",
    ),
    (
        "LoginBase",
        "URL de base de connexion",
        "URL de base de connexion Entra.",
        "Basis-URL voor aanmelden",
        "Basis-URL voor aanmelden bij Entra.",
    ),
    (
        "GraphBase",
        "URL de base de Graph",
        "URL de base de Microsoft Graph.",
        "Basis-URL van Graph",
        "Basis-URL van Microsoft Graph.",
    ),
    (
        "ExchangeRestBase",
        "URL de base REST d'Exchange Online",
        "URL de base REST d'Exchange Online (Hosted uniquement).",
        "REST-basis-URL van Exchange Online",
        "REST-basis-URL van Exchange Online (alleen Hosted).",
    ),
];

/// A setting's label in `lang` (the registry's English label for English, or when a translation is
/// missing, which a test forbids).
pub fn setting_label(lang: Lang, setting: &crate::settings::Setting) -> &'static str {
    setting_text(lang, setting).0
}

/// A setting's help text in `lang` (the registry's English help for English).
pub fn setting_help(lang: Lang, setting: &crate::settings::Setting) -> &'static str {
    setting_text(lang, setting).1
}

fn setting_text(lang: Lang, setting: &crate::settings::Setting) -> (&'static str, &'static str) {
    let found = SETTING_TEXT.iter().find(|(k, ..)| *k == setting.key);
    match (lang, found) {
        (Lang::Fr, Some(&(_, label, help, _, _))) => (label, help),
        (Lang::Nl, Some(&(_, _, _, label, help))) => (label, help),
        _ => (setting.label, setting.help),
    }
}
// ---- end of w3-i18n: settings registry ------------------------------------------------------------

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

    /// Every sentence the checks write with `coded!` has French and Dutch, with the same placeholders.
    #[test]
    fn connects_exchange_version_line_speaks_french_and_dutch() {
        use crate::exchange::cmdlets::ExchangeVersion;
        let old = ExchangeVersion::parse("Version 15.2 (Build 1544.4)").summary_of("CAS01");
        let french = coded_text(Lang::Fr, &old);
        assert!(
            french.contains("CAS01 : Exchange 2019")
                && french.contains("n'est plus pris en charge depuis le 2025-10-14"),
            "{french}"
        );
        let se = ExchangeVersion::parse("Version 15.2 (Build 2562.17)").summary_of("CAS02");
        assert_eq!(
            coded_text(Lang::Nl, &se),
            "CAS02: Exchange Server SE (Version 15.2 (Build 2562.17)): ondersteund"
        );
        assert_eq!(
            se.english,
            "CAS02: Exchange Server SE (Version 15.2 (Build 2562.17)): supported"
        );
    }

    #[test]
    fn the_status_warnings_are_said_in_french() {
        use crate::service::messages::{ExchangeServerInUse, StatusReply, UnsupportedExchange};
        let status = StatusReply {
            exchange_server: Some(ExchangeServerInUse {
                server: "cas01.contoso.lab".into(),
                failed_over_from: None,
                version: Some("cas01.contoso.lab: Exchange 2019 (...): out of support".into()),
                version_supported: Some(false),
                unsupported: Some(UnsupportedExchange {
                    server: "cas01.contoso.lab".into(),
                    product: "Exchange 2019".into(),
                    version: "Version 15.2 (Build 1544.4)".into(),
                    since: "2025-10-14".into(),
                }),
            }),
            ..StatusReply::default()
        };
        let warnings = status.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let french = coded_text(Lang::Fr, &warnings[0]);
        assert!(
            french.contains("n'est plus pris en charge depuis le 2025-10-14")
                && french.contains("Exchange 2019 (Version 15.2 (Build 1544.4))"),
            "{french}"
        );
        assert!(
            warnings[0]
                .english
                .contains("out of support since 2025-10-14")
        );
    }

    /// The setup's policy-import sentence in French and Dutch; Graph's words stay as they are.
    #[test]
    fn the_policy_import_is_said_in_french_and_dutch() {
        use crate::policy_import::LegacyImport;
        let failed = LegacyImport::Failed("HTTP 403 Forbidden".into());
        assert_eq!(failed.text().english, failed.to_string());
        let french = coded_text(Lang::Fr, &failed.text());
        assert!(
            french.starts_with("avertissement : la politique de l'ancien connecteur")
                && french.contains("(HTTP 403 Forbidden)"),
            "{french}"
        );
        let dutch = coded_text(Lang::Nl, &LegacyImport::NotInTenant.text());
        assert!(
            dutch.starts_with("toegangsbeleid: de tenant bevat geen"),
            "{dutch}"
        );
        let imported = LegacyImport::Imported("/etc/connector/policy.json".into());
        assert_eq!(imported.text().english, imported.to_string());
        assert!(
            coded_text(Lang::Fr, &imported.text())
                .contains("importés d'Intune dans /etc/connector/policy.json")
        );
    }

    /// Connect's "saved" line names the service's credential store in French and Dutch.
    #[test]
    fn the_saved_secrets_place_is_said_in_french_and_dutch() {
        let success = crate::gui::connect::ConnectSuccess {
            config_path: "/etc/connector/connector.xml".into(),
            secrets_where: crate::coded!(
                "ck_service_store",
                "the connector service's credential store"
            ),
            secrets_to_worker: true,
            insecure_package: None,
        };
        let text = crate::gui::connect::saved_text(&success);
        assert_eq!(
            text.english,
            "/etc/connector/connector.xml; secrets: the connector service's credential store"
        );
        assert_eq!(
            coded_text(Lang::Fr, &text),
            "/etc/connector/connector.xml ; secrets : le magasin d'identifiants du service du connecteur"
        );
        assert!(coded_text(Lang::Nl, &text).contains("referentieopslag van de connectorservice"));
    }

    /// The wizard's host-name and proxy-address errors (from `settings` validation) in French and
    /// Dutch, with the English unchanged for the CLI.
    #[test]
    fn host_and_proxy_address_errors_are_said_in_french_and_dutch() {
        let host = crate::settings::find("ExchangeServer").expect("a setting");
        let error = host.validate("https://cas01.contoso.lab").unwrap_err();
        assert_eq!(
            coded_text(Lang::Fr, &error.code),
            "« https://cas01.contoso.lab » est une URL ; indiquez seulement le nom du serveur (par exemple cas01.contoso.com)"
        );
        assert!(
            coded_text(Lang::Nl, &error.code).contains("is een URL"),
            "{error:?}"
        );
        assert!(
            error
                .message
                .contains("is a URL; give only the server's name")
        );

        let proxy = crate::settings::find("ProxyHost").expect("a setting");
        let error = proxy.validate("socks5://proxy:1080").unwrap_err();
        let french = coded_text(Lang::Fr, &error.code);
        assert_eq!(
            french,
            "« socks5://proxy:1080 » n'est pas une adresse de proxy; le schéma « socks5 » n'est pas pris en charge; utilisez hôte:port ou http://hôte:port (par exemple proxy.contoso.com:8080)"
        );
        assert!(coded_text(Lang::Nl, &error.code).contains("wordt niet ondersteund"));
        let english = crate::address::ProxySpec::parse("socks5://proxy:1080", None)
            .unwrap_err()
            .to_string();
        assert!(english.contains("is not a proxy address (scheme 'socks5' is not supported)"));

        let conflict = crate::address::ProxySpec::parse("proxy:8080", Some(3128)).unwrap_err();
        assert!(
            coded_text(Lang::Fr, &conflict.text()).contains("retirez l'un des deux"),
            "{conflict}"
        );
    }

    #[test]
    fn every_check_sentence_is_translated() {
        let mut keys = 0;
        for (file, source) in CODED_SOURCES {
            for key in crate::text_code::keys_in_source(source) {
                keys += 1;
                let Some(&(_, fr, nl)) = CHECK_TEXT.iter().find(|(k, ..)| *k == key) else {
                    panic!("{key} (written in {file}) has no French and Dutch text");
                };
                assert!(!fr.trim().is_empty() && !nl.trim().is_empty(), "{key}");
            }
        }
        assert!(keys > 50, "the checks' keys were found ({keys})");
        let placeholders = |text: &str| {
            let mut names: Vec<String> = text
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_string()))
                .collect();
            names.sort();
            names.dedup();
            names
        };
        for &(key, fr, nl) in CHECK_TEXT {
            assert_eq!(
                placeholders(fr),
                placeholders(nl),
                "{key}: French and Dutch differ"
            );
        }
        let dns = crate::coded!(
            "ck_dns_ok",
            "{host} resolves to {addresses}",
            host = "cas01",
            addresses = "10.0.0.4"
        );
        assert_eq!(coded_text(Lang::En, &dns), "cas01 resolves to 10.0.0.4");
        assert_eq!(coded_text(Lang::Fr, &dns), "cas01 se résout en 10.0.0.4");
        assert_eq!(coded_text(Lang::Nl, &dns), "cas01 verwijst naar 10.0.0.4");
    }

    /// Every setting of the registry has a French and a Dutch label and help text.
    #[test]
    fn every_setting_has_french_and_dutch_label_and_help() {
        for setting in crate::settings::SETTINGS {
            let found = SETTING_TEXT.iter().find(|(k, ..)| *k == setting.key);
            let Some(&(_, fr_label, fr_help, nl_label, nl_help)) = found else {
                panic!("{} has no French and Dutch text", setting.key);
            };
            for text in [fr_label, fr_help, nl_label, nl_help] {
                assert!(!text.trim().is_empty(), "{}: an empty text", setting.key);
            }
            assert_ne!(
                fr_help, setting.help,
                "{}: French help is English",
                setting.key
            );
            assert_ne!(
                nl_help, setting.help,
                "{}: Dutch help is English",
                setting.key
            );
        }
        for (key, ..) in SETTING_TEXT {
            assert!(
                crate::settings::find(key).is_some(),
                "{key} is not a setting of the registry"
            );
        }
        let failover = crate::settings::find("IsCasFailoverEnabled").unwrap();
        assert_eq!(setting_label(Lang::Fr, failover), "Basculement CAS");
        assert_eq!(setting_label(Lang::En, failover), failover.label);
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

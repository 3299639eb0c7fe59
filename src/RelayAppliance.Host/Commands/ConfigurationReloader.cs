using Microsoft.Extensions.Logging;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Pop3;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Host.Commands;

/// <summary>
/// SIGHUP: load the configuration again (file, RELAYD_ environment, the original --Section:Key overrides), validate it,
/// and if it is valid hand the new policy, limits, certificate, aliases and quota to the running servers; sessions
/// already open keep what they started with. An invalid configuration changes nothing (like `nginx -s reload`).
/// Listeners, the data directory, delivery and DNS settings are only compared: they take effect after a restart.
/// </summary>
internal sealed partial class ConfigurationReloader(
    Func<RelaydConfiguration> load,
    RelaydConfiguration started,
    SmtpServer smtp,
    Pop3Server? pop3,
    MailboxDirectory mailboxes,
    UserStore users,
    ILogger logger)
{
    private readonly Lock _gate = new();
    private readonly RelaydConfiguration _started = started; // what the listeners, spool and delivery were built from

    /// <summary>The configuration last applied (the one relayd started with until a reload succeeds).</summary>
    public RelaydConfiguration Current { get; private set; } = started;

    /// <summary>True when the new configuration was applied; false (and logged) when it was refused.</summary>
    public bool Reload()
    {
        lock (_gate)
        {
            RelaydConfiguration next;
            SmtpServerOptions smtpOptions;
            Pop3ServerOptions? pop3Options = null;
            try
            {
                next = load();
                // The hostname is in the banner and in Received: lines, and delivery HELOs with it: restart-only.
                smtpOptions = SettingsLoader.CreateSmtpOptions(next) with { Hostname = _started.Hostname };
                if (smtpOptions.Certificate is null && _started.Endpoints.Any(e => e.ImplicitTls))
                {
                    throw new ConfigurationException("Tls:CertificateFile: the running implicit-TLS listeners (Smtp:ImplicitTlsListen) need a certificate; restart relayd to remove them");
                }
                if (pop3 is not null)
                {
                    pop3Options = SettingsLoader.CreatePop3Options(next, smtpOptions.Certificate) with { Endpoints = pop3.Options.Endpoints };
                    pop3Options.Validate();
                }
            }
            catch (ConfigurationException e)
            {
                LogReloadRefused(logger, e.Message);
                return false;
            }
            catch (ArgumentException e)
            {
                LogReloadRefused(logger, $"Pop3:{e.ParamName}: {e.Message}");
                return false;
            }

            var settings = next.Settings.Mailboxes;
            mailboxes.Reconfigure(next.LocalDomains, settings.Aliases ?? [], settings.CatchAll ?? [], settings.QuotaMegabytes * 1024 * 1024);
            smtp.Reconfigure(smtpOptions, new RelayPolicy(next.LocalDomains, next.RelayDomains, next.TrustedNetworks));
            if (pop3Options is not null)
            {
                pop3!.Reconfigure(pop3Options);
            }
            users.Reload();
            foreach (var key in SettingsLoader.RestartRequiredChanges(_started, next))
            {
                LogRestartRequired(logger, key);
            }
            Current = next;
            LogReloaded(logger, string.Join(", ", next.LocalDomains));
            return true;
        }
    }

    [LoggerMessage(4000, LogLevel.Information, "Configuration reloaded: local domains {LocalDomains}; new sessions use it, open sessions keep theirs")]
    private static partial void LogReloaded(ILogger logger, string localDomains);

    [LoggerMessage(4001, LogLevel.Error, "Configuration reload refused, still running on the previous configuration: {Error}")]
    private static partial void LogReloadRefused(ILogger logger, string error);

    [LoggerMessage(4002, LogLevel.Warning, "{Key} changed: takes effect after a restart")]
    private static partial void LogRestartRequired(ILogger logger, string key);
}

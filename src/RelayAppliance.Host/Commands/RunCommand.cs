using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Local;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Host.Admin;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Host.LogOutput;
using RelayAppliance.Host.Systemd;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Pop3;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Host.Commands;

/// <summary>
/// `relayd run`: recover the spool, listen, serve until SIGTERM/SIGINT, then stop gracefully; SIGHUP reloads the
/// configuration. Under systemd (NOTIFY_SOCKET) it reports READY=1 once serving, RELOADING=1/READY=1 around a reload,
/// STOPPING=1 at a stop signal and pings the watchdog while healthy.
/// </summary>
internal static class RunCommand
{
    /// <param name="reload">Loads the configuration again for SIGHUP (same file and overrides); null: SIGHUP is ignored.</param>
    public static async Task<int> RunAsync(RelaydConfiguration configuration, Func<RelaydConfiguration>? reload = null)
    {
        using var loggerFactory = Logging.CreateFactory(configuration.LogLevel, JournalStream.IsStandardError());
        var logger = loggerFactory.CreateLogger("relayd");
        var time = TimeProvider.System;
        // From the start: SIGHUP's default action would end relayd while it recovers the spool. A reload asked for
        // before READY=1 runs right after it.
        using var reloadRequests = new SemaphoreSlim(0);
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            reloadRequests.Release();
        });
        var smtpOptions = SettingsLoader.CreateSmtpOptions(configuration);

        Directory.CreateDirectory(configuration.DataDirectory);
        MessageSpool spool;
        try
        {
            spool = Open(configuration, loggerFactory, time);
        }
        catch (Exception e) when (e is SpoolLockedException or SpoolRecoveryException or IOException or UnauthorizedAccessException)
        {
            logger.LogCritical("Cannot open the spool in {Directory}: {Error}", configuration.SpoolDirectory, e.Message);
            Console.Error.WriteLine($"relayd: cannot open the spool in {configuration.SpoolDirectory}: {e.Message}");
            return Program.ExitFailure;
        }

        MailboxStore mailboxStore;
        try
        {
            mailboxStore = MailboxStore.Open(new SpoolOptions
            {
                Directory = configuration.MailboxDirectory,
                FreeSpaceFloorBytes = configuration.Settings.Spool.MinimumFreeMegabytes * 1024 * 1024,
            }, loggerFactory, time);
        }
        catch (Exception e) when (e is SpoolLockedException or SpoolRecoveryException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"relayd: cannot open the mailboxes in {configuration.MailboxDirectory}: {e.Message}");
            await spool.DisposeAsync().ConfigureAwait(false);
            return Program.ExitFailure;
        }

        // Recovery's buffers (FASTER's pinned page and scan-frame arrays, freed again) would otherwise stay committed
        // for the life of the process: 10–13 MiB of RSS (perf/RESULTS.md, item 17).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

        await using (spool.ConfigureAwait(false))
        await using (mailboxStore.ConfigureAwait(false))
        {
            var policy = new RelayPolicy(configuration.LocalDomains, configuration.RelayDomains, configuration.TrustedNetworks);
            var users = new UserStore(configuration.DataDirectory);
            var mailboxes = SettingsLoader.CreateMailboxDirectory(configuration, users, mailboxStore);
            var server = new SmtpServer(smtpOptions, policy, users, spool, loggerFactory, time) { Mailboxes = mailboxes };
            try
            {
                server.Start();
            }
            catch (SocketException e)
            {
                Console.Error.WriteLine($"relayd: cannot listen on {string.Join(", ", configuration.Endpoints.Select(x => x.EndPoint))}: {e.Message}");
                await server.DisposeAsync().ConfigureAwait(false);
                return Program.ExitFailure;
            }


            Pop3Server? pop3 = null;
            if (configuration.Settings.Pop3.Enabled)
            {
                pop3 = new Pop3Server(SettingsLoader.CreatePop3Options(configuration, smtpOptions.Certificate), users,
                    new SpoolMailboxStore(mailboxStore), loggerFactory, time);
                try
                {
                    pop3.Start();
                }
                catch (SocketException e)
                {
                    Console.Error.WriteLine($"relayd: cannot listen for POP3 on {string.Join(", ", configuration.Pop3Endpoints.Select(x => x.EndPoint))}: {e.Message}");
                    await pop3.DisposeAsync().ConfigureAwait(false);
                    await server.DisposeAsync().ConfigureAwait(false);
                    return Program.ExitFailure;
                }
            }

            // Always running: local mail goes to the mailboxes even when Delivery:Enabled=false holds remote mail.
            var resolver = new MxResolver(SettingsLoader.CreateDnsOptions(configuration), time, loggerFactory);
            var delivery = new DeliveryService(SettingsLoader.CreateDeliveryOptions(configuration), spool, resolver,
                new OutboundOptions { HeloName = configuration.Hostname }, time, loggerFactory,
                new LocalDelivery(mailboxStore, mailboxes.Resolve, () => mailboxes.QuotaBytes));
            delivery.Start();

            await using var admin = new AdminSocketServer(configuration, spool, loggerFactory, delivery);
            admin.Start();

            using var notifier = SystemdNotifier.FromEnvironment();
            var reloader = new ConfigurationReloader(reload ?? (() => configuration), configuration, server, pop3, mailboxes, users, logger);
            var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            logger.LogInformation("relayd {Version} ready: hostname {Hostname}, spool {Spool}", Program.Version, configuration.Hostname, configuration.SpoolDirectory);
            // Only now, with the spool and mailboxes recovered and every listener open: a unit ordered After=relayd
            // may connect as soon as systemd sees READY=1.
            notifier.Ready(ReadyStatus(server, pop3));
            await using (SystemdWatchdog.Start(notifier, SystemdNotifier.WatchdogIntervalFromEnvironment(),
                () => spool.Health != SpoolHealth.Failed && mailboxStore.Health != SpoolHealth.Failed, time, logger))
            {
                while (true)
                {
                    var reloadRequested = reloadRequests.WaitAsync();
                    if (await Task.WhenAny(stop.Task, reloadRequested).ConfigureAwait(false) != reloadRequested)
                    {
                        break;
                    }
                    notifier.Reloading();
                    reloader.Reload(); // logs what it refused or what needs a restart
                    notifier.Ready(ReadyStatus(server, pop3));
                }
            }

            logger.LogInformation("Stopping: finishing open transactions (up to {Seconds} s)", smtpOptions.ShutdownGrace.TotalSeconds);
            await server.DisposeAsync().ConfigureAwait(false);
            if (pop3 is not null)
            {
                await pop3.DisposeAsync().ConfigureAwait(false); // sessions in a QUIT commit finish it
            }
            await delivery.DisposeAsync().ConfigureAwait(false); // in-flight attempts end; their mail stays queued

            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true; // we exit ourselves, after the graceful stop
                if (stop.TrySetResult())
                {
                    notifier.Stopping();
                }
            }

        }
        logger.LogInformation("Stopped");
        return Program.ExitOk;
    }

    private static string ReadyStatus(SmtpServer smtp, Pop3Server? pop3)
    {
        var endpoints = smtp.BoundEndPoints.Select(e => "SMTP " + e).Concat(pop3?.BoundEndPoints.Select(e => "POP3 " + e) ?? []);
        return "Serving " + string.Join(", ", endpoints);
    }

    public static MessageSpool Open(RelaydConfiguration configuration, ILoggerFactory loggerFactory, TimeProvider time) =>
        MessageSpool.Open(new SpoolOptions
        {
            Directory = configuration.SpoolDirectory,
            FreeSpaceFloorBytes = configuration.Settings.Spool.MinimumFreeMegabytes * 1024 * 1024,
        }, loggerFactory, time);
}

internal static class Logging
{
    /// <summary>
    /// One line per event on stderr (<see cref="LineLoggerProvider"/>); stdout stays clean for command output. When
    /// stderr is the journal, the systemd format: a "&lt;N&gt;" syslog priority prefix and no timestamp.
    /// </summary>
    public static ILoggerFactory CreateFactory(LogLevel level, bool journal = false) => LoggerFactory.Create(builder =>
        LineLoggerProvider.AddTo(builder, Console.OpenStandardError(), journal, TimeProvider.System)
            .SetMinimumLevel(level)
            .AddFilter("FASTER", level > LogLevel.Warning ? level : LogLevel.Warning)); // FASTER narrates recovery at Information
}

using System.Net;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;

namespace RelayAppliance.Host.Tests;

public sealed class ConfigurationTests
{
    [Fact]
    public void EmbeddedDefaultsAreSafeForALaptop()
    {
        var configuration = SettingsLoader.Load(null, []);
        var endpoint = Assert.Single(configuration.Endpoints);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 2525), endpoint.EndPoint);
        Assert.False(endpoint.ImplicitTls);
        Assert.Equal(Path.GetFullPath("./data"), configuration.DataDirectory);
        Assert.Contains("localhost", configuration.LocalDomains);
        Assert.Contains(configuration.Hostname, configuration.LocalDomains);
        Assert.Empty(configuration.RelayDomains);
        Assert.True(configuration.TrustedNetworks.Single(n => n.BaseAddress.Equals(IPAddress.Parse("127.0.0.0"))).Contains(IPAddress.Parse("127.1.2.3")));
        Assert.DoesNotContain(configuration.TrustedNetworks, n => n.Contains(IPAddress.Parse("10.0.0.1")));
    }

    [Fact]
    public void CommandLineOverridesReplaceListsAndScalars()
    {
        var configuration = SettingsLoader.Load(null,
        [
            "--Smtp:Listen:0=127.0.0.5:2626", "--Smtp:Listen:1=[::1]:2627", "--Relay:LocalDomains:0=example.test",
            "--Relay:Hostname", "mx.example.test", "--Smtp:MaxRecipients=150",
        ]);
        Assert.Equal(["127.0.0.5:2626", "[::1]:2627"], configuration.Endpoints.Select(e => e.EndPoint.ToString()));
        Assert.Equal(["example.test"], configuration.LocalDomains);
        Assert.Equal("mx.example.test", configuration.Hostname);
        Assert.Equal(150, configuration.Settings.Smtp.MaxRecipients);
    }

    [Fact]
    public void JsonFileIsReadAndTheCommandLineWins()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, """{ "Relay": { "Hostname": "file.test", "RelayDomains": [ "partner.test" ] }, "Smtp": { "MaxMessageSize": 5000 } }""");
        try
        {
            var configuration = SettingsLoader.Load(file, ["--Smtp:MaxMessageSize=6000"]);
            Assert.Equal("file.test", configuration.Hostname);
            Assert.Equal(["partner.test"], configuration.RelayDomains);
            Assert.Equal(6000, configuration.Settings.Smtp.MaxMessageSize);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void EnvironmentVariablesAreSettingsExceptTheLoadGeneratorsPassword()
    {
        var environment = new System.Collections.Hashtable
        {
            ["RELAYD_Smtp__Listen__0"] = "127.0.0.1:2700",
            ["RELAYD_LOAD_PASSWORD"] = "secret",
            ["HOME"] = "/root",
        };
        var settings = SettingsLoader.EnvironmentSettings(environment);
        Assert.Equal("127.0.0.1:2700", Assert.Single(settings, s => s.Key == "Smtp:Listen:0").Value);
        Assert.Single(settings);
    }

    [Fact]
    public void KeysOfTheWrongShapeSayWhichFormTheSettingTakes()
    {
        var list = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load(null, ["--Smtp:Listen=127.0.0.1:2700"]));
        Assert.Contains("Smtp:Listen:0", list.Message);
        Assert.Contains("RELAYD_Smtp__Listen__0", list.Message);
        var map = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load(null, ["--Mailboxes:Aliases=alice@localhost"]));
        Assert.Contains("Mailboxes:Aliases:NAME=VALUE", map.Message);
        var single = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load(null, ["--Delivery:Smarthost:0=127.0.0.1:26"]));
        Assert.Contains("Delivery:Smarthost=VALUE", single.Message);

        // The same mistake in a JSON file: a list written as one string.
        var file = Path.GetTempFileName();
        File.WriteAllText(file, """{ "Smtp": { "Listen": "127.0.0.1:2700" } }""");
        try
        {
            var json = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load(file, []));
            Assert.Contains("Smtp:Listen:0", json.Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("--Smtp:MaxRecipients=abc", "Smtp:MaxRecipients")]
    [InlineData("--Smtp:MaxRecipients=99", "Smtp:MaxRecipients")]
    [InlineData("--Smtp:Listen:0=nonsense", "Smtp:Listen:0")]
    [InlineData("--Smtp:Listen:0=example.com:25", "Smtp:Listen:0")]
    [InlineData("--Smtp:Listen:0=127.0.0.1:70000", "Smtp:Listen:0")]
    [InlineData("--Relay:TrustedNetworks:0=10.0.0.0/33", "Relay:TrustedNetworks:0")]
    [InlineData("--Relay:Hostname=bad_host!", "Relay:Hostname")]
    [InlineData("--Relay:LocalDomains:0=-bad-", "Relay:LocalDomains:0")]
    [InlineData("--Tls:CertificateFile=/nonexistent.pem", "Tls:KeyFile")]
    [InlineData("--Smtp:BareLineEndings=maybe", "Smtp:BareLineEndings")]
    [InlineData("--Smtp:Listne:0=127.0.0.1:25", "Listne")]
    [InlineData("--Log:Level=loud", "Log:Level")]
    [InlineData("--Mailboxes:QuotaMegabytes=-1", "Mailboxes:QuotaMegabytes")]
    [InlineData("--Mailboxes:Aliases:sales@elsewhere.test=alice@localhost", "Mailboxes:Aliases:sales@elsewhere.test")]
    [InlineData("--Mailboxes:Aliases:sales@localhost=alice@elsewhere.test", "Mailboxes:Aliases:sales@localhost")]
    [InlineData("--Mailboxes:CatchAll:elsewhere.test=alice@localhost", "Mailboxes:CatchAll:elsewhere.test")]
    [InlineData("--Delivery:DelayWarningTime=-01:00:00", "Delivery:DelayWarningTime")]
    [InlineData("--Pop3:Listen:0=nonsense", "Pop3:Listen:0")]
    [InlineData("--Pop3:ImplicitTlsListen:0=127.0.0.1:9950", "Pop3:ImplicitTlsListen")]
    [InlineData("--Pop3:AllowPlaintextAuth=sometimes", "Pop3:AllowPlaintextAuth")]
    [InlineData("--Pop3:IdleTimeoutSeconds=60", "Pop3:IdleTimeoutSeconds")]
    [InlineData("--Smtp:Listen=127.0.0.1:2700", "Smtp:Listen")]
    [InlineData("--Dns:Servers=127.0.0.1:53", "Dns:Servers")]
    [InlineData("--Delivery:Transports=relay.test", "Delivery:Transports")]
    [InlineData("--Delivery:Smarthost:0=127.0.0.1:26", "Delivery:Smarthost:0")]
    [InlineData("--Smtp:MaxRecipients:0=150", "Smtp:MaxRecipients:0")]
    [InlineData("--Relay:LocalDomains:0:x=example.test", "Relay:LocalDomains:0:x")]
    [InlineData("--Smtp=127.0.0.1:2700", "Smtp:KEY=VALUE")]
    public void BadSettingsNameTheirKey(string argument, string key)
    {
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load(null, [argument]));
        Assert.Contains(key, error.Message);
    }

    [Fact]
    public void MissingConfigFileIsAClearError()
    {
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load("/nonexistent/relayd.json", []));
        Assert.Contains("/nonexistent/relayd.json", error.Message);
    }

    [Fact]
    public void CommandLineSeparatesWordsFlagsAndOverrides()
    {
        var commandLine = CommandLine.Parse(["queue", "list", "--json", "--config", "x.json", "--Relay:DataDirectory=/tmp/d"]);
        Assert.Equal(["queue", "list"], commandLine.Words);
        Assert.True(commandLine.Json);
        Assert.Equal("x.json", commandLine.ConfigFile);
        Assert.Equal(["--Relay:DataDirectory=/tmp/d"], commandLine.Overrides);
        Assert.Throws<UsageException>(() => CommandLine.Parse(["--bogus"]));
        Assert.Throws<UsageException>(() => CommandLine.Parse(["--config"]));
    }
}

public sealed class DeliveryConfigurationTests
{
    [Fact]
    public void TransportsSmarthostAndDnsServersAreParsed()
    {
        var configuration = SettingsLoader.Load(null,
        [
            "--Delivery:Transports:relay.test=127.0.1.2:3526", "--Delivery:Transports:multi.test=127.0.1.3:25, 127.0.1.4",
            "--Dns:Servers:0=127.0.0.53:5353", "--Delivery:MaxConnectionsPerDestination=7", "--Delivery:QueueLifetime=1.00:00:00",
        ]);
        var delivery = SettingsLoader.CreateDeliveryOptions(configuration);
        Assert.Equal(["127.0.1.2:3526"], delivery.Transports["relay.test"].Select(e => e.ToString()));
        Assert.Equal(["127.0.1.3:25", "127.0.1.4:25"], delivery.Transports["multi.test"].Select(e => e.ToString()));
        Assert.Equal(7, delivery.PerDestination.Limit);
        Assert.Equal(TimeSpan.FromDays(1), delivery.Retry.QueueLifetime);
        Assert.Equal(["127.0.0.53:5353"], SettingsLoader.CreateDnsOptions(configuration).Servers.Select(e => e.ToString()));
        Assert.Empty(SettingsLoader.CreateDnsOptions(SettingsLoader.Load(null, [])).Servers); // default: /etc/resolv.conf
    }

    [Fact]
    public void TransportsAndSmarthostTakeHostNamesAndBracketedIpv6()
    {
        var configuration = SettingsLoader.Load(null,
        [
            "--Delivery:Transports:relay.test=mail.example.com:2525, 127.0.1.2", "--Delivery:Transports:v6.test=[::1]:2526,[2001:db8::7]",
            "--Delivery:Transports:postfix.test=[smtp.example.com]:587", "--Delivery:Smarthost=Smarthost.Example.NET",
            "--Delivery:Transports:lo.test=localhost:2527",
        ]);
        var delivery = SettingsLoader.CreateDeliveryOptions(configuration);
        Assert.Equal(["mail.example.com:2525", "127.0.1.2:25"], delivery.Transports["relay.test"].Select(h => h.ToString()));
        Assert.Null(delivery.Transports["relay.test"][0].Address); // a name: looked up at delivery time
        Assert.Equal(IPAddress.Parse("127.0.1.2"), delivery.Transports["relay.test"][1].Address);
        Assert.Equal(["[::1]:2526", "[2001:db8::7]:25"], delivery.Transports["v6.test"].Select(h => h.ToString()));
        Assert.Equal(["smtp.example.com:587"], delivery.Transports["postfix.test"].Select(h => h.ToString()));
        Assert.Equal(["127.0.0.1:2527"], delivery.Transports["lo.test"].Select(h => h.ToString()));
        Assert.Equal(["Smarthost.Example.NET:25"], delivery.Smarthost.Select(h => h.ToString()));
    }

    [Theory]
    [InlineData("--Delivery:Transports:relay.test=mail_example.com:25", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Transports:relay.test=mail.example.com:0", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Transports:relay.test=mail.example.com:", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Transports:relay.test=[::1:25", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Transports:relay.test=[::1]x25", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Transports:relay.test=0.0.0.0:25", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Transports:relay.test=,", "Delivery:Transports:relay.test")]
    [InlineData("--Delivery:Smarthost=*:25", "Delivery:Smarthost")]
    [InlineData("--Delivery:Smarthost=smarthost.test:70000", "Delivery:Smarthost")]
    [InlineData("--Dns:Servers:0=resolver", "Dns:Servers:0")]
    [InlineData("--Delivery:Tls=sometimes", "Delivery:Tls")]
    [InlineData("--Delivery:QueueLifetime=-1.00:00:00", "Delivery:QueueLifetime")]
    [InlineData("--Delivery:SmarthostUser=u", "Delivery:SmarthostPassword")]
    public void BadDeliverySettingsNameTheirKey(string argument, string key)
    {
        var error = Assert.Throws<ConfigurationException>(() => SettingsLoader.Load(null, [argument]));
        Assert.Contains(key, error.Message);
    }
}

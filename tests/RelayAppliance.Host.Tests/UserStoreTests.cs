using System.Text;
using RelayAppliance.Server.Accounts;

namespace RelayAppliance.Host.Tests;

public sealed class UserStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "relay-users-" + Guid.NewGuid().ToString("n"));

    public UserStoreTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void PasswordsAreHashedWithSaltAndVerified()
    {
        var store = new UserStore(_directory);
        store.SetPassword("alice@example.test", "s3cret", iterations: 1000);
        store.SetPassword("bob@example.test", "s3cret", iterations: 1000);

        Assert.True(store.Verify("alice@example.test", "s3cret"u8));
        Assert.True(store.Verify("ALICE@example.test", "s3cret"u8));
        Assert.False(store.Verify("alice@example.test", "wrong"u8));
        Assert.False(store.Verify("nobody@example.test", "s3cret"u8));

        var text = File.ReadAllText(store.FilePath);
        Assert.DoesNotContain("s3cret", text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.NotEqual(lines[0].Split(':')[2], lines[1].Split(':')[2]); // per-user salt
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.FilePath));
    }

    [Fact]
    public void AnotherInstanceSeesChangesWithoutRestart()
    {
        var server = new UserStore(_directory);
        Assert.False(server.Verify("carol", "pw"u8));
        var cli = new UserStore(_directory);
        cli.SetPassword("carol", "pw", iterations: 1000);
        Assert.True(server.Verify("carol", "pw"u8));
        cli.SetPassword("carol", "new password", iterations: 1000);
        Assert.False(server.Verify("carol", "pw"u8));
        Assert.True(server.Verify("carol", Encoding.UTF8.GetBytes("new password")));
        Assert.True(cli.Remove("carol"));
        Assert.False(server.Verify("carol", Encoding.UTF8.GetBytes("new password")));
        Assert.False(cli.Remove("carol"));
        Assert.Empty(server.List());
    }

    [Theory]
    [InlineData("ok@example.test", true)]
    [InlineData("has space", false)]
    [InlineData("has:colon", false)]
    [InlineData("", false)]
    public void UserNamesAreValidated(string name, bool valid) => Assert.Equal(valid, UserStore.IsValidAddress(name));
}

using System;
using System.Linq;
using System.Reflection;
using NShield.HsmAdmin.Operations;
using Xunit;

namespace NShield.HsmAdmin.Tests.Architecture
{
    /// <summary>
    /// One public shape for engine operations (issue 20, item 5): a public class named "...Operation" in the operations
    /// namespace is an <see cref="IHsmOperation{TRequest}"/> (the workers behind them are internal), and an operation
    /// carries no state between runs in anything a caller can set: configuration comes through its constructor, per-run
    /// data in the request and out through the reporter.
    /// </summary>
    public class OperationShapeTests
    {
        private static readonly Type[] EngineTypes = typeof(IHsmOperation<>).Assembly.GetTypes();

        private static bool IsOperation(Type t) =>
            t.IsClass && t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IHsmOperation<>));

        [Fact]
        public void Only_a_request_that_reads_the_store_alone_runs_on_the_pipeline_thread()
        {
            // A store read runs on PowerShell's thread, where Ctrl+C cannot end its wait: each one is a decision to review.
            var reads = EngineTypes.Where(t => t.GetInterfaces().Any(i => i.IsGenericType
                && i.GetGenericTypeDefinition() == typeof(IStoreReadOperation<>))).Select(t => t.Name).ToList();
            Assert.Equal(new[] { nameof(GetSshKeyOperation) }, reads);
            var keys = new GetSshKeyOperation();
            Assert.True(keys.OnlyReadsStore(new GetSshKeyRequest()));
            Assert.False(keys.OnlyReadsStore(new GetSshKeyRequest { Module = true })); // asks the modules
        }

        [Fact]
        public void Every_public_class_named_Operation_is_an_IHsmOperation()
        {
            var stray = EngineTypes
                .Where(t => t.IsClass && t.IsVisible && t.Namespace == "NShield.HsmAdmin.Operations"
                    && t.Name.EndsWith("Operation", StringComparison.Ordinal) && !IsOperation(t))
                .Select(t => t.FullName)
                .ToList();
            Assert.True(stray.Count == 0,
                "Public classes named ...Operation that are not IHsmOperation<TRequest> (make the worker internal, or give it the " +
                "one shape): " + string.Join(", ", stray));
        }

        [Fact]
        public void No_operation_has_a_public_settable_property_or_mutable_field()
        {
            const BindingFlags Public = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static;
            var operations = EngineTypes.Where(IsOperation).ToList();
            Assert.True(operations.Count >= 20, $"Only {operations.Count} operations found: is the test looking in the right assembly?");
            var settable = operations
                .SelectMany(t => t.GetProperties(Public).Where(p => p.SetMethod?.IsPublic == true).Select(p => $"{t.Name}.{p.Name} (property)")
                    .Concat(t.GetFields(Public).Where(f => !f.IsInitOnly && !f.IsLiteral).Select(f => $"{t.Name}.{f.Name} (field)")))
                .ToList();
            Assert.True(settable.Count == 0,
                "Operations with state a caller can set between runs (configure through the constructor; per-run data goes in the " +
                "request): " + string.Join(", ", settable));
        }
    }
}

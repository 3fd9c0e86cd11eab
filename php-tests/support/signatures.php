<?php
// Describes the FluentWebhook API as Reflection sees it, for StubsTest: run once inside the
// extension and once (php -n) on stubs/fluent_webhook.stub.php.

function fluent_webhook_signature(ReflectionFunctionAbstract $function): array
{
    $params = [];
    foreach ($function->getParameters() as $param) {
        $params[] = [
            'name' => $param->getName(),
            'type' => (string) $param->getType(),
            'optional' => $param->isOptional(),
            'default' => $param->isDefaultValueAvailable() ? var_export($param->getDefaultValue(), true) : null,
            'by_ref' => $param->isPassedByReference(),
            'variadic' => $param->isVariadic(),
            'sensitive' => $param->getAttributes(SensitiveParameter::class) !== [],
        ];
    }
    return ['params' => $params, 'return' => (string) $function->getReturnType()];
}

/** @param list<string> $classes @param list<string> $functions */
function fluent_webhook_signatures(array $classes, array $functions): array
{
    $api = ['classes' => [], 'functions' => []];
    foreach ($functions as $name) {
        $api['functions'][strtolower($name)] = fluent_webhook_signature(new ReflectionFunction($name));
    }
    foreach ($classes as $name) {
        $class = new ReflectionClass($name);
        $methods = [];
        foreach ($class->getMethods() as $method) {
            if ($method->getDeclaringClass()->getName() === $class->getName()) {
                $methods[$method->getName()] = fluent_webhook_signature($method) + [
                    'static' => $method->isStatic(),
                    'public' => $method->isPublic(),
                ];
            }
        }
        ksort($methods);
        $api['classes'][$class->getName()] = [
            'final' => $class->isFinal(),
            'parent' => $class->getParentClass() ? $class->getParentClass()->getName() : null,
            'interfaces' => $class->getInterfaceNames(),
            'methods' => $methods,
        ];
    }
    ksort($api['classes']);
    ksort($api['functions']);
    return $api;
}

if (PHP_SAPI === 'cli' && isset($argv[1]) && realpath($argv[0]) === realpath(__FILE__)) {
    require $argv[1];
    $classes = array_values(array_filter(get_declared_classes(), fn ($c) => str_starts_with($c, 'FluentWebhook\\')));
    $functions = array_values(array_filter(get_defined_functions()['user'], fn ($f) => str_starts_with($f, 'fluentwebhook\\')));
    echo json_encode(fluent_webhook_signatures($classes, $functions));
}
